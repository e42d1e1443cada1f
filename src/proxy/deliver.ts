import type { ClaimResult, DeliveredRecord } from './dedupe'
import { pickSha256 } from './hash'
import type { ResolvedOptions } from './options'
import { createUpstream, type Outcome } from './upstream'

/**
 * The answer for a call that another instance is sending right now: the browser retries it after
 * `Retry-After` seconds and by then finds it delivered (or claims it itself if that send failed).
 */
export const IN_FLIGHT_ELSEWHERE: Outcome = {
  status: 503,
  error: { error: 'Service Unavailable', message: 'This call is being delivered; retry it shortly', code: 503 },
  retryAfter: '1',
}

/**
 * Sends a validated call at most once. The key hashes the workspace, the messageId and the call
 * itself, so a resend is answered from the store while a messageId reused for different content
 * (a call merged after an unacknowledged send) still reaches the API. Within one process,
 * concurrent requests for one key share a single API call; across processes the shared store's
 * claim does the same (CONTRACT §6 Scale-out).
 */
export const createDelivery = (options: ResolvedOptions, log: (line: string) => void) => {
  const { workspaceId, store, dedupeTtlMs, timeoutMs } = options
  // The person is kept only when answers may carry it (h10's exposePerson, CONTRACT §6).
  const keepPerson = (options as { exposePerson?: boolean }).exposePerson === true
  // A claim outlives the call it covers (one attempt and one retry, each bounded by timeoutMs), so a
  // live sender keeps it; if that instance dies, the claim lapses and the browser's retry goes out.
  const claimMs = 2 * timeoutMs + 1000
  const send = createUpstream(options)
  const sha256 = pickSha256()
  const inflight = new Map<string, Promise<Outcome>>()

  const failed = (what: string) => (error: unknown) => {
    log('dedupe store ' + what + ' failed: ' + String((error as Error)?.message || error))
  }

  const run = async (key: string, json: Uint8Array<ArrayBuffer>, messageId: string): Promise<Outcome> => {
    let found: ClaimResult
    let claimed = true
    try {
      found = await store.claim(key, claimMs)
    } catch (error) {
      // No claim and no record: send anyway. The worst case is a duplicate, never a lost call.
      failed('claim')(error)
      claimed = false
    }
    if (found == 'claimed') return IN_FLIGHT_ELSEWHERE
    if (found && typeof found.status == 'number') return found
    const outcome = await send(json, messageId)
    try {
      // Only deliveries are remembered: a failure must reach the API when it is retried.
      if (outcome.status >= 200 && outcome.status < 300) {
        const record: DeliveredRecord = keepPerson && outcome.person ? { status: outcome.status, person: outcome.person } : { status: outcome.status }
        await store.settle(key, record, dedupeTtlMs)
      } else if (claimed) await store.release(key)
    } catch (error) {
      failed(outcome.status < 300 ? 'settle' : 'release')(error)
    }
    return outcome
  }

  const start = (key: string, json: Uint8Array<ArrayBuffer>, messageId: string) => {
    // Registered synchronously and kept until the store has the answer, so a second request either
    // joins this promise or finds the record: no window in which both call the API.
    let pending = inflight.get(key)
    if (!pending) {
      pending = run(key, json, messageId).finally(() => inflight.delete(key))
      inflight.set(key, pending)
    }
    return pending
  }

  return (json: Uint8Array<ArrayBuffer>, messageId: string): Promise<Outcome> => {
    const key = sha256([workspaceId, messageId, json])
    return typeof key == 'string' ? start(key, json, messageId) : key.then((hex) => start(hex, json, messageId))
  }
}
