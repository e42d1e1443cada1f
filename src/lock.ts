import type { Store } from './store'

const LEASE_KEY = 'lease'
/** Longer than one round can take (a request times out at 30 s), short enough to outlive a dead tab. */
const LEASE_TTL = 60000

/**
 * Runs `task` while no other tab of the origin flushes. Web Locks queue us behind the holder and
 * release on tab death; without usable ones a lease record in the store expires instead. Resolves to
 * false when the lease is held elsewhere and the task did not run.
 */
export const createLock = (store: Store, owner: string) => async (task: () => Promise<unknown>) => {
  try {
    return await navigator.locks.request('flameup-flush', task), true
  } catch {
    // Web Locks missing, throwing or rejecting (a sandboxed iframe's SecurityError, contract §4a)
    // mean the lease. A failing task lands here too and runs once more under the lease: harmless,
    // as a flush round never sends what is in flight, and its failure is then passed on.
  }
  // Read and take the lease in one transaction: two tabs can never both see it free.
  const now = Date.now()
  const lease = await store._update<[string, number]>(LEASE_KEY, (held) => (held?.[1]! > now && held![0] != owner ? held! : [owner, now + LEASE_TTL]))
  // Released whether the task succeeds or fails.
  return lease[0] == owner && task().finally(() => store._write([LEASE_KEY])).then(() => true)
}
