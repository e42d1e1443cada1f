import { backoff } from './backoff'
import type { Settings } from './config'
import { groupByUser, type createQueue, type Group, type QueuedCall } from './queue'
import { verdictOf, type createTransport, type Outcome } from './transport'
import type { FlameupEvents } from './types'
import type { createUnchanged } from './unchanged'

interface Parts {
  settings: Settings
  queue: ReturnType<typeof createQueue>
  transport: ReturnType<typeof createTransport>
  unchanged: ReturnType<typeof createUnchanged>
  lock: (task: () => Promise<unknown>) => Promise<boolean>
  emit: <E extends keyof FlameupEvents>(event: E, payload: FlameupEvents[E]) => void
  log: (...args: unknown[]) => void
}

/**
 * Schedules and runs flushes: one at a time per page (calls arriving meanwhile ask for exactly
 * one follow-up) and one tab at a time per origin (the lock). Each round loads the queue, sends
 * what is due, and applies the answers; a retryable failure or a pause ends the flush.
 */
export const createFlusher = ({ settings, queue, transport, unchanged, lock, emit, log }: Parts) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  let timerAt = Infinity
  let running: Promise<void> | undefined
  let again = false
  let paused = false
  let offline = false
  let closed = false
  /** Keys this page sent and has no answer for yet, so the unload path does not send them twice. */
  const inFlight = new Set<string>()

  const schedule = (delay: number) => {
    const at = Date.now() + delay
    if (closed || paused || at >= timerAt) return
    clearTimeout(timer)
    timerAt = at
    timer = setTimeout(() => {
      timerAt = Infinity
      flush()
    }, delay)
  }

  /**
   * Applies a round's answers: the store is updated first, then events go out, so a listener
   * never hears of a call that a reload could still send. Returns the earliest retry time.
   */
  const send = async (groups: Group[], sending: Promise<[Group, Outcome][]>, now: number) => {
    groups.forEach((group) => group.keys.forEach((key) => inFlight.add(key)))
    const answers = await sending
    groups.forEach((group) => group.keys.forEach((key) => inFlight.delete(key)))
    const removed: string[] = []
    const updated: [string, QueuedCall][] = []
    const hashes: [string, unknown][] = []
    const events: (() => void)[] = []
    let retryAt = Infinity
    for (const [{ keys, calls, merged }, { status, body, retryAfter }] of answers) {
      const verdict = verdictOf(status)
      if (verdict == 'pause') {
        if (!paused) events.push(() => emit('paused', { reason: 'unauthorized' }))
        paused = true
        continue
      }
      const attempts = Math.max(...calls.map((call) => call.attempts)) + 1
      if (verdict == 'retry' && attempts < settings.maxAttempts) {
        const { retryBaseDelay, retryMaxDelay } = settings
        const nextAt = now + Math.min(retryAfter ?? backoff(attempts - 1, retryBaseDelay, retryMaxDelay), retryMaxDelay)
        calls.forEach((call, i) => updated.push([keys[i], { ...call, attempts, nextAt }]))
        retryAt = Math.min(retryAt, nextAt)
        continue
      }
      // Only calls this page still knows are announced: the unload path and a round may both get an answer.
      const announced = calls.filter((_, i) => queue.known.has(keys[i]))
      removed.push(...keys)
      if (verdict == 'delivered') {
        hashes.push(unchanged.remember(merged.userId, merged.hash, now))
        for (const { messageId, userId } of announced) events.push(() => emit('delivered', { messageId, userId, person: body }))
      } else {
        const reason = verdict == 'rejected' ? 'rejected' : 'max_attempts'
        const error = verdict == 'rejected' ? body : undefined
        for (const { messageId, userId } of announced)
          events.push(() => emit('dropped', { messageId, userId, reason, status, error }))
      }
    }
    await queue.settle(removed, updated, hashes)
    events.forEach((event) => event())
    return retryAt
  }

  /** Sends due groups round after round; returns when nothing is due or a failure ends the flush. */
  const rounds = async () => {
    for (;;) {
      if (paused || closed) return
      if (navigator.onLine === false) {
        if (!offline) emit('paused', { reason: 'offline' })
        offline = true
        return
      }
      const now = Date.now()
      const groups = groupByUser((await queue.load(now)).calls).filter(
        (group) => !group.keys.some((key) => inFlight.has(key)),
      )
      const due = groups.filter((group) => group.nextAt <= now)
      if (!due.length) {
        const next = Math.min(...groups.map((group) => group.nextAt))
        if (next < Infinity) schedule(next - now)
        return
      }
      const retryAt = await send(
        due,
        transport.send(due).then((outcomes) => outcomes.map((outcome, i): [Group, Outcome] => [due[i], outcome])),
        now,
      )
      if (retryAt < Infinity) return schedule(retryAt - now)
    }
  }

  const flush = (): Promise<void> => {
    if (running) {
      again = true
      return running
    }
    clearTimeout(timer)
    timerAt = Infinity
    return (running = (async () => {
      do {
        again = false
        // Lease held by another tab: it sends our calls too; look again later in case it dies.
        if (!(await lock(rounds))) schedule(settings.flushInterval)
      } while (again)
    })()
      .catch((error) => log('flush failed:', error))
      .finally(() => (running = undefined)))
  }

  /** The page may be closing: send what this page knows with keepalive, without waiting for the lock. */
  const flushOnHide = () => {
    if (closed || paused || navigator.onLine === false) return
    if (!settings.proxyUrl) return void flush()
    const now = Date.now()
    const groups = groupByUser([...queue.known]).filter((group) => !group.keys.some((key) => inFlight.has(key)))
    if (groups.length) send(groups, transport.sendOnUnload(groups), now).catch(log)
  }

  return {
    schedule,
    flush,
    flushOnHide,
    /** An explicit flush() retries after a 401/403 pause, e.g. once the proxy's key is fixed. */
    resume: () => {
      paused = false
    },
    online: () => {
      offline = false
      flush()
    },
    close: () => {
      closed = true
      clearTimeout(timer)
    },
  }
}
