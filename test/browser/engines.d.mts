export declare const FIREFOX: string
export declare const WEBKIT_DRIVER: string
export declare const MINIBROWSER: string
export declare const XVFB: string

/** One tab. `raw` is the driver's own object (a playwright Page, a puppeteer Page, a selenium WebDriver). */
export interface EnginePage {
  raw: unknown
  /** Navigates and waits for the load event. */
  goto(url: string): Promise<void>
  reload(): Promise<void>
  /** Goes back one entry in the tab's history (a page in the back/forward cache is restored from it). */
  back(): Promise<void>
  /** Runs `fn(arg)` in the page (its source is sent, so it must not use anything from Node); awaits its promise. */
  evaluate<R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<R>
  /** What reached the test page uncaught in this tab, kept across its reloads and navigations (harness.mjs). */
  errors(): Promise<string[]>
  close(): Promise<void>
}

export interface EngineBrowser {
  /** The profile directory kept across kill(), where the engine has one. */
  profile: string | undefined
  version(): string
  /** A new window (every page visible), or with `tab` a tab of the current window (hidden while in the background). */
  newPage(options?: { tab?: boolean }): Promise<EnginePage>
  /** Takes every tab offline or back online (navigator.onLine and the network). Only where `engine.offline === true`. */
  setOffline(offline: boolean): Promise<void>
  /** SIGKILL of this browser's own process, then a new browser on the same profile. Open pages are gone. Only where `engine.restart === true`. */
  kill(): Promise<void>
  /** Closes the browser (and removes the profile unless `keepProfile`). */
  close(): Promise<void>
}

export interface Engine {
  name: 'Chromium' | 'Firefox' | 'WebKit'
  /** true, or why the engine cannot take a page offline. */
  offline: true | string
  /** true, or why the engine cannot restart on the same stored data. */
  restart: true | string
  /** true, or why the engine has no private-browsing session to launch. */
  private: true | string
  /** true, or why the engine does not restore the test page from the back/forward cache. */
  bfcache: true | string
  /** true, or why the engine has no background tab (a hidden page). */
  hiddenTabs: true | string
  /** true, or why a sandboxed (opaque-origin) iframe of the test page cannot reach the servers on 127.0.0.1. */
  sandbox: true | string
  launch(profile?: string, options?: { keepProfile?: boolean; private?: boolean }): Promise<EngineBrowser>
}

export declare const engines: { chromium: Engine; firefox: Engine; webkit: Engine }
