import type { DeliveredRecord } from './dedupe'
import type { ResolvedOptions } from './options'
import { createUpstream, type Outcome } from './upstream'

const hex = (buffer: ArrayBuffer) => Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, '0')).join('')

/**
 * Sends a validated call at most once. The key hashes the workspace, the messageId and the call
 * itself, so a resend is answered from the store while a messageId reused for different content
 * (a call merged after an unacknowledged send) still reaches the API. Within one process,
 * concurrent requests for one key share a single API call.
 */
export const createDelivery = (options: ResolvedOptions, log: (line: string) => void) => {
  const { workspaceId, store, dedupeTtlMs } = options
  const send = createUpstream(options)
  const inflight = new Map<string, Promise<Outcome>>()

  const recall = async (key: string) => {
    try {
      const record = await store.get(key)
      return record && typeof record.status == 'number' ? record : undefined
    } catch (error) {
      log('dedupe store get failed: ' + String((error as Error)?.message || error))
    }
  }

  const remember = async (key: string, record: DeliveredRecord) => {
    try {
      await store.set(key, record, dedupeTtlMs)
    } catch (error) {
      log('dedupe store set failed: ' + String((error as Error)?.message || error))
    }
  }

  const run = async (key: string, json: string, messageId: string): Promise<Outcome> => {
    const known = await recall(key)
    if (known) return known
    const outcome = await send(json, messageId)
    // Only deliveries are remembered: a retryable failure must reach the API when it is retried.
    if (outcome.status >= 200 && outcome.status < 300)
      await remember(key, outcome.person ? { status: outcome.status, person: outcome.person } : { status: outcome.status })
    return outcome
  }

  return async (json: string, messageId: string): Promise<Outcome> => {
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(workspaceId + '\n' + messageId + '\n' + json))
    const key = hex(digest)
    // Registered synchronously and kept until the store has the answer, so a second request either
    // joins this promise or finds the record: no window in which both call the API.
    let pending = inflight.get(key)
    if (!pending) {
      pending = run(key, json, messageId).finally(() => inflight.delete(key))
      inflight.set(key, pending)
    }
    return pending
  }
}
