import type { Settings } from './config'
import type { Change, Store } from './store'
import type { DropReason } from './types'
import { MAX_CALL_BYTES, utf8Length, type IdentifyCall } from './validate'

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

export type Entry = [key: string, call: QueuedCall]

/**
 * The calls of one user waiting together, merged into one call under the newest messageId (and
 * sent as that), with the entries it stands for.
 */
export interface Group extends QueuedCall {
  _entries: Entry[]
  /** Set when the next call would take it over 32 KB: the user's later calls wait for a later round. */
  _full?: 1
}

const DAY = 864e5
const WEEK = 7 * DAY

/**
 * Groups calls by user in queue order: nothing is reordered, and later values win. A merge that
 * would go over 32 KB of JSON is not made (the proxy would refuse it, contract §4a): the group is
 * full, and the user's later calls wait until it is answered, then go as a group of their own.
 */
export const groupByUser = (entries: Iterable<Entry>): Group[] => {
  const byUser = new Map<string, Group>()
  for (const entry of entries) {
    const call = entry[1]
    // A user's first call merges with itself.
    const older: QueuedCall & Partial<Group> = byUser.get(call.userId) || call
    // Keeps the newest call's id, time and hash (the last call delivered is the newest one). A group
    // waits for the latest retry time of its calls, so a backoff is never skipped, and counts the
    // attempts of its most tried call. Setting a key again keeps its place in the map.
    const group: any = !older._full && {
      ...call,
      email: call.email ?? older.email,
      traits: { ...older.traits, ...call.traits },
      attempts: Math.max(older.attempts, call.attempts),
      nextAt: Math.max(older.nextAt, call.nextAt),
    }
    // Measured with the group's other fields, so a little short of what identify() allows.
    if (group)
      if (older._entries && utf8Length(JSON.stringify(group)) > MAX_CALL_BYTES) older._full = 1
      else byUser.set(call.userId, ((group._entries = [...(older._entries || []), entry]), group))
  }
  return [...byUser.values()]
}

/** Key prefixes: `q` for queued calls, `d` + userId for the last delivered hash of a user. */
export const DELIVERED = 'd'

/**
 * The queue's policy over the store. Appends are batched into one transaction per tick. Reading
 * drops corrupt, expired (7 days) and overflowing (oldest first) calls. It also remembers, per
 * user, the hash and time of the last call delivered from this browser (never the traits), so an
 * unchanged identify within 24 hours is not queued. `_known` mirrors what this page last saw, so
 * a closing page can send without waiting for IndexedDB.
 */
export const createQueue = (
  store: Store,
  { maxQueueSize, retryMaxDelay }: Settings,
  drop: (call: QueuedCall, reason: DropReason) => void,
  log: (...args: unknown[]) => void,
) => {
  const known = new Map<string, QueuedCall>()
  const delivered = new Map<string, [hash: number, at: number]>()
  const changes: Change[] = []
  let writing: Promise<void> | undefined
  let reading: Promise<unknown> = Promise.resolve()

  const load = async (): Promise<[Entry[], Record<string, unknown>]> => {
    await writing
    const now = Date.now()
    const meta: Record<string, unknown> = {}
    // Deleted keys, and calls whose retry time is rewritten.
    const doomed: Change[] = []
    const stored = await store._all()
    known.clear()
    for (const [key, value] of stored)
      if (key[0] == DELIVERED) value?.[1] > now - DAY ? delivered.set(key.slice(1), value) : doomed.push(key)
      else if (key[0] != 'q') meta[key] = value
      // A call without numeric attempts and nextAt would never be due and would hold back its user's later calls.
      else if (!(typeof value?.messageId == 'string' && typeof value.userId == 'string' && value.traits && value.attempts >= 0 && value.nextAt >= 0)) {
        log('corrupt', key)
        doomed.push(key)
      } else if (Date.parse(value.timestamp) > now - WEEK) {
        // A retry time set while the clock ran fast counts as now + retryMaxDelay, and is stored so:
        // it must not move on at every read (contract §4a).
        if (value.nextAt > now + retryMaxDelay) doomed.push([key, value]), (value.nextAt = now + retryMaxDelay)
        known.set(key, value)
      } else {
        drop(value, 'expired')
        doomed.push(key)
      }
    // The oldest calls past maxQueueSize go (a negative count splices nothing).
    for (const [key, call] of [...known].splice(0, known.size - maxQueueSize)) {
      drop(call, 'queue_full')
      doomed.push(key)
      known.delete(key)
    }
    if (doomed[0]) await store._write(doomed)
    return [[...known], meta]
  }

  return {
    _known: known,

    /** Whether this call equals the last one delivered for its user in the past 24 hours. */
    _unchanged: ({ userId, hash }: QueuedCall, now: number) => {
      const last = delivered.get(userId)
      return last?.[0] == hash && now - last[1] < DAY
    },

    /** `key` (queueKey): the client takes it at identify time, so a closing page can send the call before it is stored. */
    _add: (call: QueuedCall, key: string) => {
      // A changed call is queued: until it is delivered, nothing about this user is unchanged.
      if (delivered.delete(call.userId)) changes.push(DELIVERED + call.userId)
      changes.push([key, call])
      known.set(key, call)
      return (writing ||= Promise.resolve().then(() => {
        writing = undefined
        return store._write(changes.splice(0))
      }))
    },

    /**
     * The valid calls in queue order, and the other stored keys (consent). Reads run one after
     * another, so two never both drop (and announce) the same call.
     */
    _load: () => (reading = reading.then(load)) as ReturnType<typeof load>,

    /**
     * Records answers in one transaction: `removed` calls deleted; `updated` calls this page still
     * knows rewritten (their next attempt), and delivered hashes (`d` keys) kept.
     */
    _settle: (removed: string[], updated: [string, unknown][]) => {
      removed.forEach((key) => known.delete(key))
      return store._write([
        ...updated.filter(([key, value]) =>
          key[0] == DELIVERED ? delivered.set(key.slice(1), value as [number, number]) : known.has(key) && known.set(key, value as QueuedCall),
        ),
        ...removed,
      ])
    },
  }
}
