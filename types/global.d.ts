// Types for the script-tag global: `window.flameup`, as the inline stub (dist/snippet.min.js) and
// dist/flameup.min.js define it (CONTRACT §5). Load with `import type {} from 'flameup/global'` in
// any file of the project. The ESM build never touches `window`: this is only for pages that use
// the script tag.
import type { Flameup, FlameupConfig, FlameupEvents, FlameupEventName } from 'flameup'

/**
 * `window.flameup`. Until dist/flameup.min.js has loaded, it is the stub: each method records the
 * call with its time and returns nothing (`undefined`). Once loaded and `init` has run, it is the
 * object `createFlameup` returns, so `pending` and `close` exist and the methods return promises.
 */
export interface FlameupGlobal {
  /** Creates the client from the config; the script replays the calls recorded before it loaded. Present until `init` has run. */
  init(config: FlameupConfig): Flameup | undefined
  identify(...args: Parameters<Flameup['identify']>): ReturnType<Flameup['identify']> | undefined
  flush(): Promise<void> | undefined
  on<E extends FlameupEventName>(event: E, listener: (payload: FlameupEvents[E]) => void): (() => void) | undefined
  optOut(): Promise<void> | undefined
  optIn(): Promise<void> | undefined
  /** Only once the script has loaded and `init` has run. */
  pending?: Flameup['pending']
  /** Only once the script has loaded and `init` has run. */
  close?: Flameup['close']
}

declare global {
  interface Window {
    flameup: FlameupGlobal
  }
  /** The script-tag global, also reachable as `window.flameup`. */
  var flameup: FlameupGlobal
}
