import { resolveConfig } from './config'
import { createFlusher } from './flusher'
import { hashOf, uuid } from './ids'
import { createLock } from './lock'
import { createQueue } from './queue'
import { openStore } from './store'
import { createTransport } from './transport'
import type { Flameup, FlameupConfig, FlameupEvents, Traits } from './types'
import { validateIdentify } from './validate'

type Listener<T> = (payload: T) => void

const OPT_OUT_KEY = 'optout'

/** Creates a Flameup client. Throws a `FlameupError` (`invalid_config`) for a bad config. */
export const createFlameup = (config: FlameupConfig): Flameup => {
  const settings = resolveConfig(config)
  const log = settings.debug ? (...args: unknown[]) => console.log('[flameup]', ...args) : () => {}

  // Events, mitt-sized, each also logged. A listener that throws is reported asynchronously and never breaks delivery.
  const listeners: { [E in keyof FlameupEvents]?: Listener<FlameupEvents[E]>[] } = {}
  const on = <E extends keyof FlameupEvents>(event: E, listener: Listener<FlameupEvents[E]>) => {
    ;(listeners[event] ||= [] as any).push(listener)
    return () => {
      listeners[event] = listeners[event]!.filter((other) => other != listener) as any
    }
  }
  const emit = <E extends keyof FlameupEvents>(event: E, payload: FlameupEvents[E]) => {
    log(event, payload)
    for (const listener of listeners[event] || [])
      try {
        listener(payload)
      } catch (error) {
        setTimeout(() => {
          throw error
        })
      }
  }
  const store = openStore(settings.storage, log)
  const queue = createQueue(store, settings, ({ messageId, userId }, reason) => emit('dropped', { messageId, userId, reason }), log)
  const flusher = createFlusher(settings, queue, createTransport(settings), createLock(store, uuid()), emit, log)
  let optedOut: boolean | undefined

  // Start-up reads the store once: consent, delivered hashes, and calls an earlier page left queued.
  const ready = queue._load()
    .then(([calls, meta]) => {
      optedOut ??= !!meta[OPT_OUT_KEY]
      if (calls[0] && !optedOut) flusher._schedule(0)
    })
    .catch(log)

  const setConsent = async (out: boolean) => {
    optedOut = out
    await ready
    // Stored as 1 or 0 (not deleted on opt-in): one write either way.
    await store._write([[OPT_OUT_KEY, +out]])
    // Opting out also removes every queued call.
    if (out) await queue._settle((await queue._load())[0].map(([key]) => key), [])
  }

  return {
    /** `calledAt` is internal: the script tag replays stub calls with the time they were made. */
    // Async, so that bad input rejects (at once, before any storage work) instead of throwing.
    identify: async (userId: string, traits?: Traits, calledAt?: number) => {
      const now = Date.now()
      const [call, json] = validateIdentify(userId, traits)
      await ready
      const queued = { ...call, messageId: uuid(), timestamp: new Date(calledAt || now).toISOString(), attempts: 0, nextAt: 0, hash: hashOf(json) }
      if (optedOut) return log('opted out', userId)
      if (queue._unchanged(queued, now)) return log('unchanged', userId)
      await queue._add(queued)
      flusher._schedule(Date.now() + settings.flushInterval)
    },
    flush: () => ready.then(() => flusher._flush(true)),
    on,
    pending: () => ready.then(queue._load).then(([calls]) => calls.length),
    optOut: () => setConsent(true),
    optIn: () => setConsent(false),
    close: flusher._close,
  } as Flameup
}
