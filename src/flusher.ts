import { createAnswers } from './answers'
import type { Settings } from './config'
import { watchPage } from './page'
import { groupByUser, type createQueue, type Group, type QueuedCall } from './queue'
import { KEEPALIVE_BUDGET, type createTransport } from './transport'
import type { FlameupEvents } from './types'

type Emit = <E extends keyof FlameupEvents>(event: E, payload: FlameupEvents[E]) => void

/**
 * Schedules and runs flushes: one at a time per page (calls arriving meanwhile ask for exactly
 * one follow-up) and one tab at a time per origin (the lock). A flush reads the queue, sends what
 * is due batch after batch, and applies the answers; a retryable failure or a pause ends it.
 * It also watches the page: back online it flushes, and a hidden page sends what it can.
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
  /**
   * Bytes of this page's keepalive requests in flight: Chromium refuses one past 64 KiB in all
   * (contract §4a). In a box that a back/forward-cache restore replaces: a request from before it
   * no longer counts, and gives nothing back when it settles.
   */
  let carried = [0]
  const { proxyUrl, flushInterval } = settings
  /** Keys this page sent and has no answer for yet: a closing page must not send them twice. */
  const inFlight = new Set<string>()
  /**
   * Calls identify accepted and the store does not hold yet (it may still be reading at start-up),
   * under their queue keys: a closing page sends them too (contract §4a). The client adds and removes them.
   */
  const accepted = new Map<string, QueuedCall>()
  const apply = createAnswers(
    settings,
    queue,
    emit,
    // A call only accepted is announced too: identify then knows it was answered and stores nothing.
    (key, final) => (inFlight.delete(key), final && (accepted.delete(key) || queue._known.has(key))),
    () => {
      if (!paused) emit('paused', { reason: 'unauthorized' })
      paused = true
    },
  )
  /**
   * What this page knows of the queue, grouped by user, without the groups in flight. A call is
   * never both accepted and known: identify moves it from one to the other in one step.
   */
  const sendable = () => groupByUser([...queue._known, ...accepted]).filter((group) => !group._entries.some(([key]) => inFlight.has(key)))

  /** Flushes at epoch ms `at` (at once if past), unless a flush is already due sooner. */
  const schedule = (at: number) => {
    if (!closed && !paused && at < timerAt) {
      clearTimeout(timer)
      timerAt = at
      timer = setTimeout(flush, at - Date.now())
    }
  }

  /**
   * Sends the first groups that fit one request (nothing when none fits; `closing`: only within the
   * keepalive room left) and applies the answers: the store is updated first, then events go out,
   * so a listener never hears of a call that a reload could still send. Answers the earliest retry
   * time (Infinity when nothing is retried).
   */
  const send = (groups: Group[], closing?: boolean) => {
    const sending = transport(groups, KEEPALIVE_BUDGET - carried[0], closing)
    if (!sending) return
    const [sent, bytes, answers] = sending
    const box = carried
    box[0] += bytes
    sent.forEach((group) => group._entries.forEach(([key]) => inFlight.add(key)))
    return answers.then((outcomes) => {
      box[0] -= bytes
      return apply(sent, outcomes)
    })
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
        const retryAt = await send(due)!
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
      .catch(log)
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
      // Several batches may go, as long as together with those in flight they stay within the keepalive budget.
      for (let sending; (sending = send(sendable(), true)); ) sending.catch(log)
    },
    // Back from the back/forward cache: Firefox never settles a request answered while the page was
    // frozen, so what was in flight counts as unanswered and goes again (the proxy dedupes a resend),
    // and its keepalive bytes no longer hold the budget; one that settles after all (Chromium) gives nothing back.
    () => {
      inFlight.clear()
      carried = [0]
      flush()
    },
  )

  return {
    _accepted: accepted,
    _schedule: schedule,
    _flush: flush,
    _close: () => {
      closed = true
      clearTimeout(timer)
      stopWatching()
    },
  }
}
