// Logout on a shared device: deliver what is queued, then forget this browser's Flameup data.
import { getFlameup } from './flameup-client'

export async function logOut() {
  const flameup = getFlameup()
  if (flameup) {
    // Sends what is due; what waits on backoff stays queued and would be lost by the wipe below.
    await flameup.flush()
    if ((await flameup.pending()) > 0) console.warn('flameup: calls still queued are dropped by the wipe')
    flameup.close()
  }
  // Safe while other tabs of the site are open: each closes its connection on `versionchange`.
  indexedDB.deleteDatabase('flameup')
  await fetch('/api/logout', { method: 'POST' })
}
