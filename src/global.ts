import { createFlameup, type IdentifyAt } from './client'
import type { Flameup, FlameupConfig } from './types'

/** What dist/snippet.min.js leaves on `window.flameup`: calls recorded as [method, arguments, time]. */
interface Stub {
  q?: [string, any[], number][]
  init?: (config: FlameupConfig) => Flameup | undefined
}

const w = window as unknown as { flameup?: Stub | Flameup }
const stub: Stub = (w.flameup as Stub) || {}
const calls = (stub.q ||= [])
const script = document.currentScript as HTMLScriptElement | null

/**
 * Creates the client, makes it `window.flameup`, and replays what the page called before, in
 * order and exactly once. A bad config or a mistake in a replayed call is logged: nobody could catch it.
 */
const init = (config: FlameupConfig) => {
  try {
    const flameup = createFlameup(config)
    w.flameup = flameup
    for (const [method, args, calledAt] of calls.splice(0)) {
      // A replayed identify keeps its options and its time (the internal fourth argument); the client has no `init`, so the recorded one is skipped.
      if (method == 'identify') (flameup.identify as IdentifyAt)(args[0], args[1], args[2], calledAt).catch(console.error)
      else (flameup as any)[method]?.(...args)
    }
    return flameup
  } catch (error) {
    console.error(error)
  }
}

const queuedInit = calls.find(([method]) => method == 'init')
const data = script?.dataset || {}
if (queuedInit) init(queuedInit[1][0])
// data-proxy-url, data-workspace-id, data-api-key, data-api-host map onto the config keys.
else if (data.proxyUrl || data.workspaceId) init(data as any)
else {
  // Nothing called init yet: the stub keeps recording until it is.
  stub.init = init
  w.flameup = stub
}
