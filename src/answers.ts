import { backoff } from './backoff'
import type { Settings } from './config'
import { DELIVERED, type Group } from './queue'
import { ACCEPTED, PAUSE, RETRY, verdictOf, type Outcome } from './transport'
import type { FlameupEvents } from './types'

export type Event = [keyof FlameupEvents, any]

/**
 * What one request's answers mean for the calls it carried (contract §4 and §4a): the keys to
 * remove, the records to write (calls with their next attempt, delivered hashes), the events to
 * emit once the store holds that, the earliest retry time (Infinity when nothing is retried), and
 * whether delivery is now paused. `done(key, final)` is told of every call answered, `final` when
 * it leaves the queue; it answers whether this page still knows the call, since a closing page and a
 * flush may both get an answer and only the first is announced.
 */
export const judge = (
  sent: Group[],
  outcomes: Outcome[],
  paused: boolean,
  done: (key: string, final?: boolean) => unknown,
  { maxAttempts, retryBaseDelay, retryMaxDelay }: Settings,
) => {
  const now = Date.now()
  const removed: string[] = []
  const updated: [string, unknown][] = []
  const events: Event[] = []
  let retryAt = Infinity
  outcomes.forEach(([status, body, retryAfter, item], i) => {
    const { userId, hash, attempts: tried, _entries: entries } = sent[i]
    const verdict = verdictOf(status, item)
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
      const final = !nextAt && !pause
      if (done(key, final) && final)
        events.push([
          delivered ? 'delivered' : 'dropped',
          {
            messageId: call.messageId,
            userId,
            ...(delivered ? { person: body } : { reason: retry ? 'max_attempts' : 'rejected', status, error: retry ? undefined : body }),
          },
        ])
      if (nextAt) updated.push([key, { ...call, attempts, nextAt }])
      else if (final) removed.push(key)
    }
  })
  return [removed, updated, events, retryAt, paused] as const
}
