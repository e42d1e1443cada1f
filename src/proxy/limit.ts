/**
 * API calls in flight across every request of one handler (CONTRACT §6 Limits). Calls past
 * `maxConcurrency` wait in one FIFO queue; a request is admitted only while the items not yet
 * sent, its own included, stay within `maxPending`, so the queue never grows unbounded. Every
 * operation is O(1): a slot that is free at once costs neither an allocation nor an await.
 */
export interface Limiter {
  /** Counts `count` more items as waiting; false (nothing counted) past `maxPending`. */
  admit(count: number): boolean
  /** One admitted item stops waiting: sent, or answered without being sent. */
  done(): void
  /**
   * A slot: `true` at once when one is free (no promise, no await), else a promise of whether
   * the slot came before `signal` aborted.
   */
  acquire(signal: AbortSignal | null): boolean | Promise<boolean>
  /** Gives a slot back; the oldest waiter still wanted takes it. */
  release(): void
}

export const createLimiter = (maxConcurrency: number, maxPending: number): Limiter => {
  let active = 0
  let pending = 0
  // A queue as an array and a head index: shift() is O(n) on long arrays. Each waiter's take()
  // says whether it still wanted the slot (false once its request went away).
  let queue: (() => boolean)[] = []
  let head = 0

  return {
    admit: (count) => {
      if (pending + count > maxPending) return false
      pending += count
      return true
    },
    done: () => {
      pending--
    },
    acquire: (signal) => {
      if (signal?.aborted) return false
      if (active < maxConcurrency && head == queue.length) {
        active++
        return true
      }
      return new Promise<boolean>((resolve) => {
        let settled = false
        const settle = (granted: boolean) => {
          if (settled) return false
          settled = true
          signal?.removeEventListener('abort', onAbort)
          resolve(granted)
          return true
        }
        const onAbort = () => settle(false)
        signal?.addEventListener('abort', onAbort)
        queue.push(() => settle(true))
      })
    },
    release: () => {
      active--
      while (active < maxConcurrency && head < queue.length) if (queue[head++]()) active++
      // Under steady overload the queue never empties: drop the taken half now and then (amortised O(1)).
      if (head == queue.length || (head > 1024 && head * 2 > queue.length)) {
        queue = queue.slice(head)
        head = 0
      }
    },
  }
}

/** Settings of {@link createRateLimit}; `key` names the client a request counts against. */
export interface RateLimitOptions {
  /** Items per minute per client key; a burst may use a whole minute's worth at once. */
  perMinute: number
  /**
   * The client a request counts against, such as its address. `undefined` leaves the request unlimited
   * (a trusted server of your own).
   */
  key: (request: Request) => string | undefined
}

/** Keys remembered at most; past it the least recently seen client starts over with a full bucket. */
const MAX_KEYS = 10000

/**
 * Items per minute per client, as a token bucket per key: `take(key, n)` spends n tokens and
 * returns 0, or returns the whole seconds to wait (for `Retry-After`) and spends nothing. A batch
 * larger than a minute's worth passes on a full bucket, so no batch is refused forever.
 */
export const createRateLimit = (perMinute: number, now: () => number = Date.now) => {
  const perMs = perMinute / 60000
  const buckets = new Map<string, { tokens: number; at: number }>()
  return (key: string, count: number): number => {
    const time = now()
    let bucket = buckets.get(key)
    if (bucket) {
      buckets.delete(key)
      bucket.tokens = Math.min(perMinute, bucket.tokens + (time - bucket.at) * perMs)
      bucket.at = time
    } else {
      bucket = { tokens: perMinute, at: time }
      if (buckets.size >= MAX_KEYS) buckets.delete(buckets.keys().next().value!)
    }
    // Re-inserted: the Map's insertion order is least recently seen first.
    buckets.set(key, bucket)
    const needed = Math.min(count, perMinute)
    if (bucket.tokens < needed) return Math.max(1, Math.ceil((needed - bucket.tokens) / perMs / 1000))
    bucket.tokens -= count
    return 0
  }
}
