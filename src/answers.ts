import { backoff } from './backoff'
import type { Settings } from './config'
import { DELIVERED, type createQueue, type Group } from './queue'
import { ACCEPTED, PAUSE, RETRY, verdictOf, type Outcome } from './transport'
import type { FlameupEvents } from './types'

/**
 * Applies the answers to one request (contract §4 and §4a): removes the calls answered for good,
 * records the next attempt of those retried and the hash of those delivered, all in one write, and
 * only then emits `delivered` and `dropped`, so a listener never hears of a call that a reload
 * could still send. Resolves with the earliest retry time (Infinity when nothing is retried).
 * `done(key, final)` is told of every call answered, `final` when it leaves the queue, and answers
 * whether this page still knows the call: a closing page and a flush may both get an answer, and
 * only the first is announced. `pause()` is called for a 401, or a whole-request 403.
 */
export const createAnswers =
  (
    { maxAttempts, retryBaseDelay, retryMaxDelay }: Settings,
    queue: ReturnType<typeof createQueue>,
    emit: <E extends keyof FlameupEvents>(event: E, payload: FlameupEvents[E]) => void,
    done: (key: string, final?: boolean) => unknown,
    pause: () => void,
  ) =>
  async (sent: Group[], outcomes: Outcome[]) => {
    const now = Date.now()
    const removed: string[] = []
    const updated: [string, unknown][] = []
    const events: [keyof FlameupEvents, any][] = []
    let retryAt = Infinity
    outcomes.forEach(([status, body, retryAfter, item], i) => {
      const { userId, hash, attempts: tried, _entries: entries } = sent[i]
      const verdict = verdictOf(status, item)
      const retry = verdict == RETRY
      const delivered = verdict == ACCEPTED
      const paused = verdict == PAUSE
      const attempts = tried + 1
      const nextAt = retry && attempts < maxAttempts && now + Math.min(retryAfter ?? backoff(tried, retryBaseDelay, retryMaxDelay), retryMaxDelay)
      if (paused) pause()
      else if (nextAt) retryAt = Math.min(retryAt, nextAt)
      else if (delivered) updated.push([DELIVERED + userId, [hash, now]])
      for (const [key, call] of entries) {
        const final = !nextAt && !paused
        if (done(key, final) && final)
          events.push([
            delivered ? 'delivered' : 'dropped',
            {
              messageId: call.messageId,
              userId,
              ...(delivered ? { person: body } : { reason: retry ? 'max_attempts' : 'rejected', status, error: body }),
            },
          ])
        if (nextAt) updated.push([key, { ...call, attempts, nextAt }])
        else if (final) removed.push(key)
      }
    })
    await queue._settle(removed, updated)
    events.forEach((event) => emit(...(event as [any, any])))
    return retryAt
  }
