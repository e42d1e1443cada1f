import { resolveConfig } from './config'
import { createFlusher } from './flusher'
import { hashOf, queueKey, uuid } from './ids'
import { createLock } from './lock'
import { createQueue } from './queue'
import { openStore } from './store'
import { createTransport } from './transport'
import type { Flameup, FlameupConfig, FlameupEvents, IdentifyOptions, IdentifyResult, Traits } from './types'
import { validateIdentify } from './validate'

type Listener<T> = (payload: T) => void

const OPT_OUT_KEY = 'optout'

/**
 * identify, and a fourth argument that is not part of `Flameup`: the epoch ms the call was made, as
 * its `timestamp`. The script tag replays stub calls so.
 */
export type IdentifyAt = (userId: string, traits?: Traits, options?: IdentifyOptions, calledAt?: number) => Promise<IdentifyResult>

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
  const accepted = flusher._accepted
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
    if (out) accepted.clear()
    await ready
    // Stored as 1 or 0 (not deleted on opt-in): one write either way.
    await store._write([[OPT_OUT_KEY, +out]])
    // Opting out also removes every queued call.
    if (out) await queue._settle((await queue._load())[0].map(([key]) => key), [])
  }

  // Async, so that bad input rejects (at once, before any storage work) instead of throwing.
  const identify: IdentifyAt = async (userId, traits, options, calledAt) => {
    const now = Date.now()
    const [call, json] = validateIdentify(userId, traits, options)
    const queued = { ...call, messageId: uuid(), timestamp: new Date(calledAt || now).toISOString(), attempts: 0, nextAt: 0, hash: hashOf(json) }
    const key = queueKey(queued.messageId)
    // Known to the flusher at once, before the start-up read ends: a page closing now sends it (contract §4a).
    if (!optedOut) accepted.set(key, queued)
    await ready
    // Not accepted any more: opted out meanwhile, or a closing page's request got its final answer.
    if (!accepted.delete(key) || optedOut) return optedOut ? 'opted_out' : 'queued'
    if (queue._unchanged(queued, now)) return 'skipped'
    // The queue knows it from here on (synchronously), and stores it.
    await queue._add(queued, key)
    flusher._schedule(Date.now() + settings.flushInterval)
    return 'queued'
  }

  return {
    identify,
    flush: () => ready.then(() => flusher._flush(true)),
    on,
    pending: () => ready.then(queue._load).then(([calls]) => calls.length),
    optOut: () => setConsent(true),
    optIn: () => setConsent(false),
    close: flusher._close,
  } as Flameup
}
