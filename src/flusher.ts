import { backoff } from './backoff'
import type { Settings } from './config'
import { groupByUser, type createQueue, type Entry, type Group, type QueuedCall } from './queue'
import { KEEPALIVE_BUDGET, verdictOf, type createTransport, type Sending } from './transport'
import type { FlameupEvents } from './types'

type Emit = <E extends keyof FlameupEvents>(event: E, payload: FlameupEvents[E]) => void

/**
 * Schedules and runs flushes: one at a time per page (calls arriving meanwhile ask for exactly
 * one follow-up) and one tab at a time per origin (the lock). Each round loads the queue, sends
 * what is due, and applies the answers; a retryable failure or a pause ends the flush.
 */
export const createFlusher = (
  settings: Settings,
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
  const sendable = (entries: Entry[]) =>
    groupByUser(entries).filter((group) => !group._entries.some(([key]) => inFlight.has(key)))

  const schedule = (delay: number) => {
    const at = Date.now() + delay
    if (closed || paused || at >= timerAt) return
    clearTimeout(timer)
    timerAt = at
    timer = setTimeout(flush, delay)
  }

  /**
   * Sends groups and applies the answers: the store is updated first, then events go out, so a
   * listener never hears of a call that a reload could still send. Returns the earliest retry time.
   */
  const send = async (groups: Group[], { _count, _answers }: Sending, now: number) => {
    const sent = groups.slice(0, _count).flatMap((group) => group._entries)
    sent.forEach(([key]) => inFlight.add(key))
    const outcomes = await _answers
    sent.forEach(([key]) => inFlight.delete(key))
    const removed: string[] = []
    const updated: Entry[] = []
    const delivered: QueuedCall[] = []
    const events: Parameters<Emit>[] = []
    let retryAt = Infinity
    outcomes.forEach(({ _status: status, _body: body, _retryAfter: retryAfter }, i) => {
      const { _entries: entries, _merged: merged } = groups[i]
      const verdict = verdictOf(status)
      const attempts = Math.max(...entries.map(([, call]) => call.attempts)) + 1
      if (verdict == 'pause') {
        if (!paused) events.push(['paused', { reason: 'unauthorized' }])
        paused = true
      } else if (verdict == 'retry' && attempts < settings.maxAttempts) {
        const { retryBaseDelay, retryMaxDelay } = settings
        const nextAt = now + Math.min(retryAfter ?? backoff(attempts - 1, retryBaseDelay, retryMaxDelay), retryMaxDelay)
        entries.forEach(([key, call]) => updated.push([key, { ...call, attempts, nextAt }]))
        retryAt = Math.min(retryAt, nextAt)
      } else {
        if (verdict == 'delivered') delivered.push(merged)
        for (const [key, { messageId, userId }] of entries) {
          // Only calls this page still knows are announced: a closing page and a round may both get an answer.
          if (queue._known.has(key))
            events.push(
              verdict == 'delivered'
                ? ['delivered', { messageId, userId, person: body }]
                : ['dropped', {
                    messageId,
                    userId,
                    reason: verdict == 'retry' ? 'max_attempts' : 'rejected',
                    status,
                    error: verdict == 'rejected' ? body : undefined,
                  }],
            )
          removed.push(key)
        }
      }
    })
    await queue._settle(removed, updated, delivered, now)
    events.forEach((event) => emit(...event))
    return retryAt
  }

  /**
   * Sends due groups round after round, until nothing is due or a failure ends the flush. The
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
      groups ||= sendable((await queue._load(now))._calls)
      const due = groups.filter((group) => group._merged.nextAt <= now)
      if (!due.length) {
        if (!fresh) groups = undefined
        else {
          const next = Math.min(...groups.map((group) => group._merged.nextAt))
          return void (next < Infinity && schedule(next - now))
        }
      } else {
        const sending = transport(due)
        const sent = new Set(due.slice(0, sending._count))
        groups = groups.filter((group) => !sent.has(group))
        const retryAt = await send(due, sending, now)
        if (retryAt < Infinity) return schedule(retryAt - now)
      }
    }
  }

  const flush = (): Promise<void> => {
    clearTimeout(timer)
    timerAt = Infinity
    if (running) {
      again = true
      return running
    }
    return (running = (async () => {
      do {
        again = false
        // Lease held by another tab: it sends our calls too; look again later in case it dies.
        if (!(await lock(rounds))) schedule(settings.flushInterval)
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
      if (!settings.proxyUrl) return void flush()
      if (paused || closed || navigator.onLine === false) return
      let groups = sendable([...queue._known])
      // Several batches may go, as long as together they stay within one keepalive budget.
      for (let budget = KEEPALIVE_BUDGET, sending: Sending; groups.length && (sending = transport(groups, budget))._count; ) {
        budget -= sending._bytes
        send(groups, sending, Date.now()).catch(log)
        groups = groups.slice(sending._count)
      }
    },
    /** An explicit flush() retries after a 401/403 pause, e.g. once the proxy's key is fixed. */
    _resume: () => {
      paused = false
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
