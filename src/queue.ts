import { hashOf, queueKey } from './ids'
import type { Settings } from './config'
import type { Store } from './store'
import type { DropReason } from './types'
import type { IdentifyCall } from './validate'

/** One identify call as stored in IndexedDB. Field names are hand-written: they outlive releases. */
export interface QueuedCall extends IdentifyCall {
  messageId: string
  /** ISO time of the identify call; it expires 7 days later. */
  timestamp: string
  /** Failed sends so far. */
  attempts: number
  /** Epoch ms before which it is not retried. */
  nextAt: number
  /** hashOf the call's JSON, kept once delivered to skip unchanged calls. */
  hash: number
}

/** The calls of one user waiting together; sent as one merged call under the newest messageId. */
export interface Group {
  keys: string[]
  calls: QueuedCall[]
  merged: QueuedCall
  /** Due when every call in it is. */
  nextAt: number
}

export const QUEUE_PREFIX = 'q'
const WEEK = 7 * 864e5

const isCall = (call: any): call is QueuedCall =>
  call && typeof call.messageId == 'string' && typeof call.userId == 'string' && typeof call.traits == 'object'

/** Later values win; the merged call keeps the newest call's id and time. */
const merge = (older: QueuedCall, newer: QueuedCall): QueuedCall => {
  const merged = { ...newer, email: newer.email ?? older.email, traits: { ...older.traits, ...newer.traits } }
  merged.hash = hashOf(JSON.stringify({ userId: merged.userId, email: merged.email, traits: merged.traits }))
  return merged
}

/** Groups queued calls by user in queue order, so nothing is reordered and the newest values win. */
export const groupByUser = (entries: [string, QueuedCall][]): Group[] => {
  const byUser = new Map<string, Group>()
  for (const [key, call] of entries) {
    const group = byUser.get(call.userId)
    if (group) {
      group.keys.push(key)
      group.calls.push(call)
      group.merged = merge(group.merged, call)
      group.nextAt = Math.max(group.nextAt, call.nextAt)
    } else byUser.set(call.userId, { keys: [key], calls: [call], merged: call, nextAt: call.nextAt })
  }
  return [...byUser.values()]
}

/**
 * The queue's policy over the store: appends are batched into one transaction per tick; reading
 * drops corrupt, expired (7 days) and overflowing (oldest first) calls. `known` mirrors what this
 * page last saw, so the unload path can send without waiting for IndexedDB.
 */
export const createQueue = (
  store: Store,
  settings: Settings,
  drop: (call: QueuedCall, reason: DropReason) => void,
  log: (...args: unknown[]) => void,
) => {
  const known = new Map<string, QueuedCall>()
  let buffer: [string, QueuedCall][] = []
  let writing: Promise<void> | undefined

  const add = (call: QueuedCall) => {
    const key = queueKey(call.messageId)
    buffer.push([key, call])
    known.set(key, call)
    return (writing ||= Promise.resolve().then(() => {
      const items = buffer
      buffer = []
      writing = undefined
      return store.setMany(items)
    }))
  }

  /** Every stored entry: the valid calls in queue order, and the other keys (consent, delivered hashes). */
  const load = async (now: number) => {
    await writing
    const calls: [string, QueuedCall][] = []
    const meta: Record<string, any> = {}
    const doomed: string[] = []
    for (const [key, value] of await store.entries()) {
      if (!key.startsWith(QUEUE_PREFIX)) meta[key] = value
      else if (!isCall(value)) {
        log('removing a corrupt record', key)
        doomed.push(key)
      } else if (!(Date.parse(value.timestamp) > now - WEEK)) {
        doomed.push(key)
        drop(value, 'expired')
      } else calls.push([key, value])
    }
    for (const [key, call] of calls.splice(0, calls.length - settings.maxQueueSize)) {
      doomed.push(key)
      drop(call, 'queue_full')
    }
    if (doomed.length) await store.delMany(doomed)
    known.clear()
    for (const [key, call] of calls) known.set(key, call)
    return { calls, meta }
  }

  /**
   * Records the answers of one round in two transactions: answered calls removed, failed ones
   * rewritten with their next attempt, plus any other entries (delivered hashes).
   */
  const settle = async (removed: string[], updated: [string, QueuedCall][], other: [string, unknown][]) => {
    removed.forEach((key) => known.delete(key))
    updated.forEach(([key, call]) => known.has(key) && known.set(key, call))
    if (removed.length) await store.delMany(removed)
    if (updated.length || other.length) await store.setMany([...updated, ...other])
  }

  return { add, load, settle, known }
}
