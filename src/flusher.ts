import { backoff } from './backoff'
import type { Settings } from './config'
import { watchPage } from './page'
import { DELIVERED, groupByUser, type createQueue, type Group } from './queue'
import { ACCEPTED, KEEPALIVE_BUDGET, PAUSE, RETRY, verdictOf, type createTransport } from './transport'
import type { FlameupEvents } from './types'

type Emit = <E extends keyof FlameupEvents>(event: E, payload: FlameupEvents[E]) => void

/**
 * Schedules and runs flushes: one at a time per page (calls arriving meanwhile ask for exactly
 * one follow-up) and one tab at a time per origin (the lock). A flush reads the queue, sends what
 * is due batch after batch, and applies the answers; a retryable failure or a pause ends it.
 * It also watches the page: back online it flushes, and a hidden page sends what it can.
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
  /** What this page knows of the queue, grouped by user, without the groups in flight. */
  const sendable = () => groupByUser(queue._known).filter((group) => !group._entries.some(([key]) => inFlight.has(key)))

  /** Flushes at epoch ms `at` (at once if past), unless a flush is already due sooner. */
  const schedule = (at: number) => {
    if (!closed && !paused && at < timerAt) {
      clearTimeout(timer)
      timerAt = at
      timer = setTimeout(flush, at - Date.now())
    }
  }

  /**
   * Sends the first groups that fit one request (nothing when none fits) and applies the answers:
   * the store is updated first, then events go out, so a listener never hears of a call that a
   * reload could still send. Answers the request's bytes, then the earliest retry time (Infinity
   * when nothing is retried).
   */
  const send = (groups: Group[], budget?: number) => {
    const sending = transport(groups, budget)
    if (!sending) return
    const [sent, bytes, answers] = sending
    sent.forEach((group) => group._entries.forEach(([key]) => inFlight.add(key)))
    return [
      bytes,
      answers.then(async (outcomes) => {
        const now = Date.now()
        const removed: string[] = []
        const updated: [string, unknown][] = []
        const events: [keyof FlameupEvents, any][] = []
        let retryAt = Infinity
        outcomes.forEach(([status, body, retryAfter], i) => {
          const { userId, hash, attempts: tried, _entries: entries } = sent[i]
          const verdict = verdictOf(status)
          const retry = verdict == RETRY
          const delivered = verdict == ACCEPTED
          const pause = verdict == PAUSE
          const attempts = tried + 1
          const nextAt = retry && attempts < maxAttempts && now + Math.min(retryAfter ?? backoff(tried, retryBaseDelay, retryMaxDelay), retryMaxDelay)
          if (pause) {
            if (!paused) events.push(['paused', { reason: 'unauthorized' }])
            paused = true
          } else if (nextAt) retryAt = Math.min(retryAt, nextAt)
          else if (delivered) updated.push([DELIVERED + userId, [hash, now]])
          for (const [key, call] of entries) {
            inFlight.delete(key)
            if (nextAt) updated.push([key, { ...call, attempts, nextAt }])
            else if (!pause) {
              // Only calls this page still knows are announced: a closing page and a flush may both get an answer.
              if (queue._known.has(key))
                events.push([
                  delivered ? 'delivered' : 'dropped',
                  {
                    messageId: call.messageId,
                    userId,
                    ...(delivered ? { person: body } : { reason: retry ? 'max_attempts' : 'rejected', status, error: retry ? undefined : body }),
                  },
                ])
              removed.push(key)
            }
          }
        })
        await queue._settle(removed, updated)
        events.forEach((event) => emit(...event))
        return retryAt
      }),
    ] as const
  }

  /**
   * Sends due groups batch after batch, until nothing is due or a failure ends the flush. The
   * store is read once and what this page knows is worked through (answered calls leave it), then
   * the store is read again for calls other tabs added meanwhile.
   */
  const rounds = async () => {
    for (let fresh = true; !paused && !closed; ) {
      if (navigator.onLine === false) {
        if (!offline) emit('paused', { reason: 'offline' })
        offline = true
        return
      }
      const now = Date.now()
      if (fresh) await queue._load()
      const groups = sendable()
      const due = groups.filter((group) => group.nextAt <= now)
      if (due[0]) {
        fresh = false
        const retryAt = await send(due)![1]
        // Infinity schedules nothing.
        if (retryAt < Infinity) return schedule(retryAt)
      } else if (fresh) return schedule(Math.min(...groups.map((group) => group.nextAt)))
      else fresh = true
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
        if (!(await lock(rounds))) schedule(Date.now() + flushInterval)
      } while (again)
    })()
      .catch((error) => log('flush failed', error))
      .finally(() => (running = undefined)))
  }

  const stopWatching = watchPage(
    // Back online.
    () => {
      offline = false
      flush()
    },
    // The page may be closing: proxy mode sends what this page knows now, without waiting for the lock.
    () => {
      if (!proxyUrl) return void flush()
      if (paused || closed || navigator.onLine === false) return
      // Several batches may go, as long as together they stay within one keepalive budget.
      for (let budget = KEEPALIVE_BUDGET, sending; (sending = send(sendable(), budget)); budget -= sending[0]) sending[1].catch(log)
    },
    // Back from the back/forward cache: Firefox never settles a request answered while the page was
    // frozen, so what was in flight counts as unanswered and goes again (the proxy dedupes a resend).
    () => {
      inFlight.clear()
      flush()
    },
  )

  return {
    _schedule: schedule,
    _flush: flush,
    _close: () => {
      closed = true
      clearTimeout(timer)
      stopWatching()
    },
  }
}
