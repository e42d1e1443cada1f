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
import { createUnchanged } from './unchanged'
import { validateIdentify } from './validate'

const OPT_OUT_KEY = 'optout'

/** Creates a Flameup client. Throws a `FlameupError` (`invalid_config`) for a bad config. */
export const createFlameup = (config: FlameupConfig): Flameup => {
  const settings = resolveConfig(config)
  const log = settings.debug ? (...args: unknown[]) => console.log('[flameup]', ...args) : () => {}
  const { on, emit } = createEmitter<FlameupEvents>()
  const store = openStore(settings.storage, log)
  const queue = createQueue(store, settings, (call, reason) => {
    log('dropped', reason, call.messageId)
    emit('dropped', { messageId: call.messageId, userId: call.userId, reason })
  }, log)
  const unchanged = createUnchanged(store)
  const flusher = createFlusher({
    settings,
    queue,
    transport: createTransport(settings),
    unchanged,
    lock: createLock(store, uuid()),
    emit: (event, payload) => {
      log(event, payload)
      emit(event, payload)
    },
    log,
  })
  let optedOut: boolean | undefined

  // Start-up reads the store once: consent, delivered hashes, and calls an earlier page left queued.
  const ready = queue
    .load(Date.now())
    .then(({ calls, meta }) => {
      optedOut ??= !!meta[OPT_OUT_KEY]
      if (calls.length && !optedOut) flusher.schedule(0)
      return unchanged.load(meta, Date.now())
    })
    .catch(log)

  const stopWatching = watchPage(flusher.online, flusher.flushOnHide)

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
      const hash = hashOf(json)
      if (optedOut) return log('opted out; not queued', userId)
      if (unchanged.is(userId, hash, now)) return log('unchanged; not queued', userId)
      unchanged.forget(userId)
      const timestamp = new Date(calledAt || now).toISOString()
      return queue
        .add({ ...call, messageId: uuid(), timestamp, attempts: 0, nextAt: 0, hash })
        .then(() => flusher.schedule(settings.flushInterval))
    })
  }

  const setConsent = async (out: boolean) => {
    optedOut = out
    await ready
    if (!out) return store.delMany([OPT_OUT_KEY])
    const { calls } = await queue.load(Date.now())
    await queue.settle(calls.map(([key]) => key), [], [[OPT_OUT_KEY, 1]])
  }

  return {
    identify,
    flush: () => {
      flusher.resume()
      return ready.then(flusher.flush)
    },
    on,
    pending: () => ready.then(() => queue.load(Date.now())).then(({ calls }) => calls.length),
    optOut: () => setConsent(true),
    optIn: () => setConsent(false),
    close: () => {
      flusher.close()
      stopWatching()
    },
  }
}
