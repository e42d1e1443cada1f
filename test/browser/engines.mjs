// One small interface over three browser engines, so that a delivery scenario is written once and
// runs in each: Chromium (playwright-core), Firefox ESR (puppeteer-core over WebDriver BiDi) and
// WebKitGTK (selenium-webdriver against WebKitWebDriver, under an Xvfb this file starts itself).
// Every browser is a Debian package; nothing is downloaded. Plain JS, like chromium.mjs, so that
// plain-Node scripts can use it too.
//
//   const browser = await engine.launch(profile?)   // profile: a directory kept across kill()
//   const page = await browser.newPage()
//   await page.goto(url); await page.reload(); await page.evaluate(fn, arg); await page.errors()
//   await browser.setOffline(true)                   // only where engine.offline is true
//   await browser.kill()                             // SIGKILL, then relaunch on the same profile
//   await page.close(); await browser.close()
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import puppeteer from 'puppeteer-core'
import { Builder } from 'selenium-webdriver'
import { launchChromium } from './chromium.mjs'
import { PAGE_ERRORS_KEY } from './harness.mjs'

export const FIREFOX = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr'
export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER_PATH || '/usr/bin/WebKitWebDriver'
export const MINIBROWSER = process.env.MINIBROWSER_PATH || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser'
export const XVFB = process.env.XVFB_PATH || '/usr/bin/Xvfb'

const TIMEOUT = 60000
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
/** `promise`, or nothing once `ms` have passed; no timer is left behind. */
const within = (promise, ms) => {
  let timer
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer))
}
const tempDir = (name) => mkdtempSync(join(tmpdir(), 'flameup-' + name + '-'))

/** What the test page kept in sessionStorage about errors that reached it uncaught (see harness.mjs). */
const readErrors = (key) => {
  try {
    return JSON.parse(sessionStorage.getItem(key) || '[]')
  } catch {
    return []
  }
}

/** Waits for a child process to exit, whatever its state. */
const exited = (child) =>
  child.exitCode != null || child.signalCode != null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve))

/** The pid of the browser's main process: the one whose command line names this profile and has no --type (no helper). */
const chromiumPid = (profile) => {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let argv
    try {
      argv = readFileSync('/proc/' + entry + '/cmdline', 'utf8').split('\0')
    } catch {
      continue
    }
    if (argv.includes('--user-data-dir=' + profile) && !argv.some((arg) => arg.startsWith('--type='))) return Number(entry)
  }
  return undefined
}

/** Waits until a process is gone (after a SIGKILL the kernel reaps it shortly). */
const gone = async (pid) => {
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    await delay(25)
  }
}

// ---- Chromium: playwright-core, a persistent context on the profile directory.

// Chromium's Local Network Access checks refuse an opaque-origin (sandboxed) frame's requests to
// loopback: an artifact of serving the test page itself from 127.0.0.1, not of the sandbox. Same-origin
// requests, all the other scenarios make, are not affected. The back/forward cache stays on, as in a
// user's Chromium (playwright-core turns it off unless told).
const CHROMIUM_ARGS = ['--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights']

const chromiumEngine = {
  name: 'Chromium',
  offline: true,
  restart: true,
  private: 'playwright-core opens Chromium on a persistent profile; an incognito context is another launch path, not covered here',
  bfcache: true,
  hiddenTabs: 'headless Chromium under playwright-core keeps every page visible: it has no background tab',
  sandbox: true,
  async launch(profile = tempDir('chromium'), options = {}) {
    const keep = !!options.keepProfile
    let chromium = await launchChromium(profile, { keepProfile: true, args: CHROMIUM_ARGS, bfcache: true })
    const pages = new Set()
    const browser = {
      profile,
      version: () => chromium.context.browser()?.version() ?? '',
      async newPage() {
        const raw = await chromium.context.newPage()
        const page = {
          raw,
          goto: (url) => raw.goto(url).then(() => {}),
          reload: () => raw.reload().then(() => {}),
          back: () => raw.evaluate(() => history.back()).then(() => {}),
          evaluate: (fn, arg) => raw.evaluate(fn, arg),
          errors: () => raw.evaluate(readErrors, PAGE_ERRORS_KEY),
          close: async () => {
            pages.delete(page)
            await raw.close().catch(() => {})
          },
        }
        pages.add(page)
        return page
      },
      setOffline: (offline) => chromium.context.setOffline(offline),
      async kill() {
        const pid = chromiumPid(profile)
        if (!pid) throw new Error('no Chromium process on ' + profile)
        process.kill(pid, 'SIGKILL')
        await gone(pid)
        await chromium.close()
        pages.clear()
        chromium = await launchChromium(profile, { keepProfile: true, args: CHROMIUM_ARGS, bfcache: true })
      },
      async close() {
        await chromium.close()
        if (!keep) rmSync(profile, { recursive: true, force: true })
      },
    }
    return browser
  },
}

// ---- Firefox ESR: puppeteer-core over WebDriver BiDi (no geckodriver).

const launchFirefox = (profile, prefs) =>
  puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    userDataDir: profile,
    headless: true,
    env: { ...process.env, MOZ_HEADLESS: '1' },
    extraPrefsFirefox: prefs,
    protocolTimeout: TIMEOUT,
  })

const firefoxEngine = {
  name: 'Firefox',
  offline: true,
  restart: true,
  private: true,
  bfcache: true,
  hiddenTabs:
    "headless Firefox ESR under puppeteer-core leaves background tabs visible, only sometimes hiding one late (1 run in 8): not deterministic, so pages are windows here",
  sandbox: true,
  /** `options.private`: a private-browsing session (browser.privatebrowsing.autostart), as in a private window. */
  async launch(profile = tempDir('firefox'), options = {}) {
    const keep = !!options.keepProfile
    const prefs = options.private ? { 'browser.privatebrowsing.autostart': true } : {}
    let firefox = await launchFirefox(profile, prefs)
    const version = (await firefox.version()) || ''
    const browser = {
      profile,
      version: () => version,
      async newPage() {
        // A window each, as Chromium and WebKit give here, unless `tab`: a background tab is hidden,
        // and hidden pages send on their own (visibilitychange), which is another scenario.
        const raw = await firefox.newPage({ type: options.tab ? 'tab' : 'window' })
        raw.setDefaultTimeout(TIMEOUT)
        raw.setDefaultNavigationTimeout(TIMEOUT)
        return {
          raw,
          goto: (url) => raw.goto(url).then(() => {}),
          reload: () => raw.reload().then(() => {}),
          back: () => raw.evaluate(() => history.back()).then(() => {}),
          evaluate: (fn, arg) => raw.evaluate(fn, arg),
          errors: () => raw.evaluate(readErrors, PAGE_ERRORS_KEY),
          close: () => raw.close().catch(() => {}),
        }
      },
      // WebDriver BiDi emulation.setNetworkConditions, per tab: every open tab goes offline or back.
      async setOffline(offline) {
        for (const raw of await firefox.pages()) await raw.setOfflineMode(offline)
      },
      async kill() {
        const child = firefox.process()
        child.kill('SIGKILL')
        await exited(child)
        await firefox.close().catch(() => {})
        firefox = await launchFirefox(profile, prefs)
      },
      async close() {
        await firefox.close().catch(() => {})
        if (!keep) rmSync(profile, { recursive: true, force: true })
      },
    }
    return browser
  },
}

// ---- WebKitGTK: selenium-webdriver against WebKitWebDriver (WebDriver classic), MiniBrowser under Xvfb.

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

/** Starts Xvfb on the first free display (it prints the number on fd 3); resolves `{ display, stop }`. */
const startXvfb = () =>
  new Promise((resolve, reject) => {
    const child = spawn(XVFB, ['-displayfd', '3', '-nolisten', 'tcp', '-screen', '0', '1280x800x24'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let out = ''
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error('Xvfb exited with ' + code + ': ' + stderr)))
    child.stdio[3].on('data', (chunk) => {
      out += chunk
      if (out.includes('\n')) resolve({ display: ':' + out.trim(), stop: () => stopChild(child) })
    })
  })

const stopChild = async (child) => {
  if (child.exitCode == null && child.signalCode == null) {
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exited(child)
    clearTimeout(timer)
  }
  // A grandchild (MiniBrowser under WebKitWebDriver) may still hold our end of a pipe: an open
  // stream would keep the test worker alive after its last test.
  child.stdio.forEach((stream) => stream?.destroy())
}

/** Starts WebKitWebDriver on a free port on 127.0.0.1 and waits until it answers /status. */
const startWebKitDriver = async (display) => {
  const port = await freePort()
  const child = spawn(WEBKIT_DRIVER, ['--port=' + port, '--host=127.0.0.1'], {
    env: { ...process.env, DISPLAY: display },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const url = 'http://127.0.0.1:' + port
  for (let i = 0; i < 400; i++) {
    if (child.exitCode != null) throw new Error('WebKitWebDriver exited with ' + child.exitCode + ': ' + stderr)
    try {
      if ((await fetch(url + '/status')).ok) return { url, stop: () => stopChild(child) }
    } catch {}
    await delay(25)
  }
  await stopChild(child)
  throw new Error('WebKitWebDriver did not start: ' + stderr)
}

// Runs `fn` in the page: its value, or its error's message rethrown in Node (undefined stays undefined).
const EVALUATE = `const done = arguments[arguments.length - 1]
Promise.resolve().then(() => (FN)(arguments[0])).then(
  (value) => done(value === undefined ? {} : { value }),
  (error) => done({ error: String(error && error.stack || error) }))`

const webkitEngine = {
  name: 'WebKit',
  offline: 'WebKitWebDriver (WebDriver classic) has no switch that takes the browser offline',
  restart: 'MiniBrowser --automation keeps website data in memory only: a driver session cannot restart on a profile',
  private: 'MiniBrowser --automation is already an ephemeral (private-like) session: every WebKit scenario runs in one',
  bfcache: true,
  hiddenTabs: true,
  sandbox: true,
  async launch() {
    const xvfb = await startXvfb()
    let driver
    let server
    try {
      server = await startWebKitDriver(xvfb.display)
      driver = await new Builder()
        .usingServer(server.url)
        .withCapabilities({
          browserName: 'MiniBrowser',
          'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
        })
        .build()
      await driver.manage().setTimeouts({ script: TIMEOUT, pageLoad: TIMEOUT })
    } catch (error) {
      await server?.stop()
      await xvfb.stop()
      throw error
    }
    const capabilities = await driver.getCapabilities()
    const version = String(capabilities.get('browserVersion') || '')
    // The first window stays open (closing a session's last window ends it); pages are further windows.
    const home = await driver.getWindowHandle()
    // WebDriver classic drives one window at a time: each command switches to its page, one after another.
    let queue = Promise.resolve()
    let current = home
    const inWindow = (handle, fn) => {
      const run = queue.then(async () => {
        if (current != handle) await driver.switchTo().window(handle)
        current = handle
        return fn()
      })
      queue = run.catch(() => {})
      return run
    }
    const evaluate = async (handle, fn, arg) => {
      const result = await inWindow(handle, () => driver.executeAsyncScript(EVALUATE.replace('FN', String(fn)), arg ?? null))
      if (result && 'error' in result) throw new Error('evaluate in WebKit: ' + result.error)
      return result?.value
    }
    return {
      profile: undefined,
      version: () => version,
      async newPage(options = {}) {
        const handle = await inWindow(current, async () => {
          await driver.switchTo().newWindow(options.tab ? 'tab' : 'window')
          return driver.getWindowHandle()
        })
        current = handle
        return {
          raw: driver,
          goto: (url) => inWindow(handle, () => driver.get(url)),
          reload: () => inWindow(handle, () => driver.navigate().refresh()),
          // WebDriver's own Back: history.back() inside an async script sometimes left WebKitWebDriver
          // waiting forever for a script whose page had gone into the back/forward cache.
          back: () => inWindow(handle, () => driver.navigate().back()),
          evaluate: (fn, arg) => evaluate(handle, fn, arg),
          errors: () => evaluate(handle, readErrors, PAGE_ERRORS_KEY),
          close: () =>
            inWindow(handle, async () => {
              await driver.close()
              await driver.switchTo().window(home)
              current = home
            }).catch(() => {}),
        }
      },
      async setOffline() {
        throw new Error('WebKit: ' + webkitEngine.offline)
      },
      async kill() {
        throw new Error('WebKit: ' + webkitEngine.restart)
      },
      async close() {
        // A session that no longer answers must not hold the run: the driver is stopped either way.
        await within(driver.quit().catch(() => {}), 15000)
        await server.stop()
        await xvfb.stop()
      },
    }
  },
}

/**
 * The engines the shared scenarios run in. `offline`, `restart`, `private`, `bfcache`, `hiddenTabs` and `sandbox` are `true` where the engine can
 * express that scenario, or the reason why it cannot (printed when the scenario is skipped).
 */
export const engines = { chromium: chromiumEngine, firefox: firefoxEngine, webkit: webkitEngine }
