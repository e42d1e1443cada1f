import { backoff } from './backoff'
import type { Settings } from './config'
import { DELIVERED, groupByUser, type createQueue, type Entry, type Group } from './queue'
import { KEEPALIVE_BUDGET, verdictOf, type createTransport, type Sending } from './transport'
import type { FlameupEvents } from './types'

type Emit = <E extends keyof FlameupEvents>(event: E, payload: FlameupEvents[E]) => void

/**
 * Schedules and runs flushes: one at a time per page (calls arriving meanwhile ask for exactly
 * one follow-up) and one tab at a time per origin (the lock). A flush reads the queue, sends what
 * is due batch after batch, and applies the answers; a retryable failure or a pause ends it.
 */
export const createFlusher = (
  { proxyUrl, flushInterval, maxAttempts, retryBaseDelay, retryMaxDelay }: Settings,
  queue: ReturnType<typeof createQueue>,
  transport: ReturnType<typeof createTransport>,
  lock: (task: () => Promise<unknown>) => Promise<boolean>,
  emit: Emit,
  log: (...args: unknown[]) => void,
) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  let timerAt = Infinity
  let running: Promise<void> | undefined
  let again = false
  let paused = false
  let offline = false
  let closed = false
  /** Keys this page sent and has no answer for yet: a closing page must not send them twice. */
  const inFlight = new Set<string>()
  const sendable = (entries: Entry[]) => groupByUser(entries).filter((group) => !group._entries.some(([key]) => inFlight.has(key)))

  /** Flushes after `delay` ms, unless a flush is already due sooner. */
  const schedule = (delay: number) => {
    const at = Date.now() + delay
    if (!closed && !paused && at < timerAt) {
      clearTimeout(timer)
      timerAt = at
      timer = setTimeout(flush, delay)
    }
  }

  /**
   * Sends the first groups and applies the answers: the store is updated first, then events go
   * out, so a listener never hears of a call that a reload could still send. Returns the earliest
   * retry time (Infinity when nothing is retried).
   */
  const send = async (groups: Group[], [count, , request]: Sending) => {
    const sent = groups.slice(0, count)
    const keys = sent.flatMap((group) => group._entries.map(([key]) => key))
    keys.forEach((key) => inFlight.add(key))
    const outcomes = await request()
    keys.forEach((key) => inFlight.delete(key))
    const now = Date.now()
    const removed: string[] = []
    const updated: [string, unknown][] = []
    const events: Parameters<Emit>[] = []
    let retryAt = Infinity
    outcomes.forEach(([status, body, retryAfter], i) => {
      const { _entries: entries, _merged: merged } = sent[i]
      const { userId } = merged
      const verdict = verdictOf(status)
      const retry = verdict == 'retry'
      const attempts = merged.attempts + 1
      if (verdict == 'pause') {
        if (!paused) events.push(['paused', { reason: 'unauthorized' }])
        paused = true
      } else if (retry && attempts < maxAttempts) {
        const nextAt = now + Math.min(retryAfter ?? backoff(attempts - 1, retryBaseDelay, retryMaxDelay), retryMaxDelay)
        retryAt = Math.min(retryAt, nextAt)
        entries.forEach(([key, call]) => updated.push([key, { ...call, attempts, nextAt }]))
      } else {
        if (verdict == 'delivered') updated.push([DELIVERED + userId, [merged.hash, now]])
        for (const [key, { messageId }] of entries) {
          // Only calls this page still knows are announced: a closing page and a flush may both get an answer.
          if (queue._known.has(key))
            events.push(
              verdict == 'delivered'
                ? ['delivered', { messageId, userId, person: body }]
                : ['dropped', { messageId, userId, reason: retry ? 'max_attempts' : 'rejected', status, error: retry ? undefined : body }],
            )
          removed.push(key)
        }
      }
    })
    await queue._settle(removed, updated)
    events.forEach((event) => emit(...event))
    return retryAt
  }

  /**
   * Sends due groups batch after batch, until nothing is due or a failure ends the flush. The
   * queue is read once and worked through, then read again for calls that arrived meanwhile:
   * reading it before every batch would cost a long task when a thousand calls wait.
   */
  const rounds = async () => {
    for (let groups: Group[] | undefined; !paused && !closed; ) {
      if (navigator.onLine === false) {
        if (!offline) emit('paused', { reason: 'offline' })
        offline = true
        return
      }
      const now = Date.now()
      const fresh = !groups
      groups ||= sendable((await queue._load(now))[0])
      const due = groups.filter((group) => group._merged.nextAt <= now)
      if (due[0]) {
        const sending = transport(due)
        const sent = due.slice(0, sending[0])
        groups = groups.filter((group) => !sent.includes(group))
        const retryAt = await send(due, sending)
        // Infinity schedules nothing.
        if (retryAt < Infinity) return schedule(retryAt - Date.now())
      } else if (fresh) return schedule(Math.min(...groups.map((group) => group._merged.nextAt)) - now)
      else groups = undefined
    }
  }

  /** `resume`: an explicit flush() retries after a 401/403 pause, e.g. once the proxy's key is fixed. */
  const flush = (resume?: boolean): Promise<void> => {
    if (resume) paused = false
    clearTimeout(timer)
    timerAt = Infinity
    if (running) {
      again = true
      return running
    }
    return (running = (async () => {
      do {
        again = false
        // Lock held by another tab's lease: it sends our calls too; look again later in case it dies.
        if (!(await lock(rounds))) schedule(flushInterval)
      } while (again)
    })()
      .catch((error) => log('flush failed', error))
      .finally(() => (running = undefined)))
  }

  return {
    _schedule: schedule,
    _flush: flush,
    /** The page may be closing: proxy mode sends what this page knows now, without waiting for the lock. */
    _hide: () => {
      if (!proxyUrl) return void flush()
      if (paused || closed || navigator.onLine === false) return
      // Several batches may go, as long as together they stay within one keepalive budget.
      for (
        let groups = sendable([...queue._known]), budget = KEEPALIVE_BUDGET, sending: Sending;
        groups[0] && (sending = transport(groups, budget))[0];
        groups = groups.slice(sending[0])
      ) {
        budget -= sending[1]
        send(groups, sending).catch(log)
      }
    },
    _online: () => {
      offline = false
      flush()
    },
    _close: () => {
      closed = true
      clearTimeout(timer)
    },
  }
}
