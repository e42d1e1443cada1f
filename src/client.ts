import { resolveConfig } from './config'
import { createEmitter } from './emitter'
import { createFlusher } from './flusher'
import { hashOf, uuid } from './ids'
import { createLock } from './lock'
import { watchPage } from './page'
import { createQueue } from './queue'
import { openStore } from './store'
import { createTransport } from './transport'
import type { Flameup, FlameupConfig, FlameupEvents, Traits } from './types'
import { validateIdentify } from './validate'

const OPT_OUT_KEY = 'optout'

/** Creates a Flameup client. Throws a `FlameupError` (`invalid_config`) for a bad config. */
export const createFlameup = (config: FlameupConfig): Flameup => {
  const settings = resolveConfig(config)
  const log = settings.debug ? (...args: unknown[]) => console.log('[flameup]', ...args) : () => {}
  const { on, emit } = createEmitter<FlameupEvents>()
  const logAndEmit = <E extends keyof FlameupEvents>(event: E, payload: FlameupEvents[E]) => {
    log(event, payload)
    emit(event, payload)
  }
  const store = openStore(settings.storage, log)
  const queue = createQueue(store, settings, ({ messageId, userId }, reason) => logAndEmit('dropped', { messageId, userId, reason }), log)
  const flusher = createFlusher(settings, queue, createTransport(settings), createLock(store, uuid()), logAndEmit, log)
  let optedOut: boolean | undefined

  // Start-up reads the store once: consent, delivered hashes, and calls an earlier page left queued.
  const ready = queue
    ._load(Date.now())
    .then(({ _calls: calls, _meta: meta }) => {
      optedOut ??= !!meta[OPT_OUT_KEY]
      if (calls.length && !optedOut) flusher._schedule(0)
    })
    .catch(log)

  const stopWatching = watchPage(flusher._online, flusher._hide)

  /** `calledAt` is internal: the script tag replays stub calls with the time they were made. */
  const identify = (userId: string, traits?: Traits, calledAt?: number): Promise<void> => {
    let checked
    try {
      checked = validateIdentify(userId, traits)
    } catch (error) {
      return Promise.reject(error)
    }
    const [call, json] = checked
    const now = Date.now()
    return ready.then(() => {
      const queued = { ...call, messageId: uuid(), timestamp: new Date(calledAt || now).toISOString(), attempts: 0, nextAt: 0, hash: hashOf(json) }
      if (optedOut) return log('opted out', userId)
      if (queue._unchanged(queued, now)) return log('unchanged', userId)
      return queue._add(queued).then(() => flusher._schedule(settings.flushInterval))
    })
  }

  const setConsent = async (out: boolean) => {
    optedOut = out
    await ready
    if (!out) return store.delMany([OPT_OUT_KEY])
    await store.setMany([[OPT_OUT_KEY, 1]])
    const { _calls: calls } = await queue._load(Date.now())
    await queue._settle(calls.map(([key]) => key), [])
  }

  return {
    identify,
    flush: () => {
      flusher._resume()
      return ready.then(flusher._flush)
    },
    on,
    pending: () => ready.then(() => queue._load(Date.now())).then(({ _calls: calls }) => calls.length),
    optOut: () => setConsent(true),
    optIn: () => setConsent(false),
    close: () => {
      flusher._close()
      stopWatching()
    },
  }
}
