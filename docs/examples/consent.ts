// Consent: nothing is queued or sent until the visitor agrees, and a withdrawal clears the queue.
import { getFlameup } from './flameup-client'

export async function setAnalyticsConsent(granted: boolean) {
  const flameup = getFlameup()
  if (!flameup) return
  // Both persist across page loads (stored in IndexedDB), so call them when the choice changes.
  if (granted) await flameup.optIn()
  else await flameup.optOut()
}
