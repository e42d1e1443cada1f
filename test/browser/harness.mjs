// The servers a real-Chromium run needs, all on 127.0.0.1 with free ports: the Flameup API
// stand-in (demo/api.mjs), and a page server that serves a test page with the inline stub and
// the built dist/flameup.min.js, and mounts the built proxy handler (dist/proxy.mjs) at /flameup.
// Plain JS, importing only built files, so that test/bench-browser.mjs runs it with bare Node.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { mulberry32, startApi } from '../../demo/api.mjs'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
// FLAMEUP_DIST points the page at another build (a mutated one, to check that the tests can fail).
const DIST = (process.env.FLAMEUP_DIST || ROOT + 'dist').replace(/\/?$/, '/')
export const API_KEY = 'fl_test_key'
export const WORKSPACE_ID = 'ws_test'
/** Mounted next to /flameup with a key the stand-in refuses (401). */
export const WRONG_KEY_PATH = '/flameup-wrong-key'
/** Mounted next to /flameup with `allowedOrigins: '*'`: the proxy a sandboxed (opaque-origin, "null") frame can use. */
export const ANY_ORIGIN_PATH = '/flameup-any-origin'

/**
 * SDK timings compressed about twenty-fold, so that flushes and retries take tens of milliseconds.
 * maxAttempts grows to match: ten attempts at these delays would be used up in about two seconds.
 */
export const FAST = { proxyUrl: '/flameup', flushInterval: 100, retryBaseDelay: 50, retryMaxDelay: 1000, maxAttempts: 100 }

/**
 * Page script (source text, for a page URL's `before` or an init script): a WebKit-style lost
 * connection. After `__loseConnections()`, every IndexedDB connection opened so far throws
 * InvalidStateError from transaction(), with no close event; a fresh open works.
 */
export const LOSE_CONNECTIONS = `{
  const opened = []
  const dead = new WeakSet()
  const open = IDBFactory.prototype.open
  IDBFactory.prototype.open = function (...args) {
    const request = open.apply(this, args)
    request.addEventListener('success', () => opened.push(request.result))
    return request
  }
  const transaction = IDBDatabase.prototype.transaction
  IDBDatabase.prototype.transaction = function (...args) {
    if (dead.has(this)) throw new DOMException('The database connection is closing.', 'InvalidStateError')
    return transaction.apply(this, args)
  }
  window.__loseConnections = () => opened.splice(0).forEach((db) => dead.add(db))
}`

/** Lines the test page prints when something reaches it uncaught. */
export const PAGE_ERROR_MARK = '[flameup-test]'

const json = (value) => JSON.stringify(value).replace(/</g, '\\u003c')

/** sessionStorage key where the test page also keeps what reached it uncaught (survives reloads and navigations in its tab). */
export const PAGE_ERRORS_KEY = 'flameup-test-errors'

// The page records its own errors too: WebKitWebDriver has no console or pageerror events.
// `before` runs first, in place of an init script (WebDriver classic has none): e.g. a fault to inject.
const page = (config, calls, before = '') => `<!doctype html>
<meta charset="utf-8">
<title>flameup test page</title>
<script>
  window.__events = []
  const __record = (line) => {
    try {
      sessionStorage.setItem(${json(PAGE_ERRORS_KEY)}, JSON.stringify([...JSON.parse(sessionStorage.getItem(${json(PAGE_ERRORS_KEY)}) || '[]'), line]))
    } catch {}
  }
  addEventListener('error', (e) => __record('pageerror: ' + e.message + (e.error && e.error.stack ? '\\n' + e.error.stack : '')))
  addEventListener('unhandledrejection', (e) => {
    const line = 'unhandledrejection: ' + String(e.reason) + (e.reason && e.reason.stack ? '\\n' + e.reason.stack : '')
    __record(line)
    console.error(${json(PAGE_ERROR_MARK)} + ' ' + line)
  })
</script>
${before ? '<script>' + before.replace(/<\//g, '<\\/') + '</script>' : ''}
<script>${readFileSync(DIST + 'snippet.min.js', 'utf8')}</script>
<script>
  flameup.init(${json(config)})
  for (const name of ['delivered', 'dropped', 'paused']) flameup.on(name, (e) => __events.push([name, e]))
  for (const [method, ...args] of ${json(calls)}) flameup[method](...args)
</script>
<script async src="/flameup.min.js"></script>
`

/**
 * A page with the script tag alone (no stub), initialised from `data-*` attributes, then running
 * `code` inline right after it loads. Cacheable (no `no-store`), so the back/forward cache may keep it.
 */
const tagPage = (dataset, code) => `<!doctype html>
<meta charset="utf-8">
<title>flameup script tag</title>
<script>
  window.__events = []
  addEventListener('pageshow', (e) => (window.__restored = e.persisted))
  addEventListener('unhandledrejection', (e) => console.error(${json(PAGE_ERROR_MARK)} + ' unhandledrejection: ' + (e.reason && e.reason.stack || e.reason)))
</script>
<script src="/flameup.min.js" ${Object.entries(dataset)
  .map(([name, value]) => 'data-' + name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()) + '="' + String(value).replace(/"/g, '&quot;') + '"')
  .join(' ')}></script>
<script>
  for (const name of ['delivered', 'dropped', 'paused']) flameup.on(name, (e) => __events.push([name, e]))
  ${code}
</script>
`

/**
 * A host page whose `<iframe sandbox="allow-scripts">` (an opaque origin, where Web Locks refuse and
 * IndexedDB throws) loads the SDK with `config`. The frame posts to the host what it sees, as
 * `window.__frame` entries: ['locks', origin, outcome of a Web Locks request], ['delivered', payload],
 * ['identified', userId], ['error', line]; it identifies on a message `[userId, traits]` from the host.
 */
const sandboxPage = (config, origin) => {
  const frame = `<!doctype html><meta charset="utf-8">
<script>
  const post = (...message) => parent.postMessage(message, '*')
  addEventListener('error', (e) => post('error', 'pageerror: ' + e.message))
  addEventListener('unhandledrejection', (e) => post('error', 'unhandledrejection: ' + String(e.reason)))
</script>
<script>${readFileSync(DIST + 'snippet.min.js', 'utf8')}</script>
<script>
  flameup.init(${json(config)})
  flameup.on('delivered', (e) => post('delivered', e))
  Promise.resolve()
    .then(() => navigator.locks.request('flameup-test-probe', () => {}))
    .then(() => 'granted', (error) => (error && error.name) || String(error))
    .then((outcome) => post('locks', origin, outcome))
  addEventListener('message', (e) => Promise.resolve(flameup.identify(...e.data)).then(() => post('identified', e.data[0])))
</script>
<script async src="${origin}/flameup.min.js"></script>`
  return `<!doctype html>
<meta charset="utf-8">
<title>sandbox host</title>
<script>window.__frame = []; addEventListener('message', (e) => __frame.push(e.data))</script>
<iframe sandbox="allow-scripts" srcdoc="${frame.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"></iframe>
`
}

const OTHER = '<!doctype html><meta charset="utf-8"><title>another page</title><p>No SDK here.</p>'

/** The Fetch Request for a node:http request: full URL, method, headers and the buffered body. */
export const toFetchRequest = async (req, origin) => {
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1])
  const method = req.method || 'GET'
  const body = method == 'GET' || method == 'HEAD' ? undefined : Buffer.concat(chunks)
  return new Request(new URL(req.url || '/', origin), { method, headers, body })
}

/** Writes a Fetch Response back to node:http: status, every header, the body. */
export const writeFetchResponse = async (response, res) => {
  const body = Buffer.from(await response.arrayBuffer())
  const headers = {}
  response.headers.forEach((value, name) => (headers[name] = value))
  res.writeHead(response.status, headers)
  res.end(body)
}

const listen = (server) =>
  new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server.address().port))
  })

const closeServer = (server) =>
  new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const messageIdsOf = (text) => {
  try {
    return JSON.parse(text).batch.map((item) => item.messageId)
  } catch {
    return []
  }
}

const countBy = (entries, key) => {
  const counts = new Map()
  for (const entry of entries) counts.set(entry[key], (counts.get(entry[key]) || 0) + 1)
  return counts
}

/**
 * Starts the stand-in and the page server. `upstreamLatency: [min, max]` makes the in-process
 * proxy wait a seeded random time before each API call (the stand-in only knows a fixed latency).
 * `maxBody`: a gateway before the proxies that answers 413 to bodies over that many bytes.
 */
export async function startHarness({ apiKey = API_KEY, workspaceId = WORKSPACE_ID, seed = 1, upstreamLatency, maxBody = Infinity } = {}) {
  const api = await startApi({ host: '127.0.0.1', port: 0, apiKey, workspaceId, seed })
  const { createProxyHandler } = await import(pathToFileURL(DIST + 'proxy.mjs').href)
  const latencyRand = mulberry32(seed + 1)
  const upstreamFetch = upstreamLatency
    ? async (url, init) => {
        const [min, max] = upstreamLatency
        await delay(min + latencyRand() * (max - min))
        return fetch(url, init)
      }
    : undefined
  const proxies = {
    '/flameup': createProxyHandler({ apiKey, workspaceId, apiHost: api.url, fetch: upstreamFetch }),
    [WRONG_KEY_PATH]: createProxyHandler({ apiKey: apiKey + '_wrong', workspaceId, apiHost: api.url }),
    [ANY_ORIGIN_PATH]: createProxyHandler({ apiKey, workspaceId, apiHost: api.url, allowedOrigins: '*' }),
  }
  /** Every request a browser made to a proxy mounted here: `{ path, method, at, messageIds, status }`. */
  const proxyRequests = []
  let origin = ''

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url || '/', origin)
      const proxy = proxies[url.pathname]
      if (proxy) {
        const request = await toFetchRequest(req, origin)
        const entry = { path: url.pathname, method: request.method, at: Date.now(), messageIds: [], status: null }
        proxyRequests.push(entry)
        let body = ''
        if (request.method == 'POST') entry.messageIds = messageIdsOf((body = await request.clone().text()))
        const response =
          Buffer.byteLength(body) > maxBody ? new Response('Payload Too Large', { status: 413, headers: { 'Access-Control-Allow-Origin': '*' } }) : await proxy(request)
        entry.status = response.status
        return await writeFetchResponse(response, res)
      }
      if (url.pathname == '/page') {
        const config = JSON.parse(url.searchParams.get('config') || 'null') || FAST
        const calls = JSON.parse(url.searchParams.get('calls') || '[]')
        // no-store keeps a page out of the back/forward cache; `&bfcache` lets it in (revalidated on load).
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': url.searchParams.has('bfcache') ? 'no-cache' : 'no-store' })
        return res.end(page(config, calls, url.searchParams.get('before') || ''))
      }
      if (url.pathname == '/sandbox') {
        const config = JSON.parse(url.searchParams.get('config') || 'null') || FAST
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' })
        return res.end(sandboxPage(config, origin))
      }
      if (url.pathname == '/tag') {
        const dataset = JSON.parse(url.searchParams.get('dataset') || '{}')
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
        return res.end(tagPage(dataset, url.searchParams.get('code') || ''))
      }
      if (url.pathname == '/flameup.min.js') {
        res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' })
        return res.end(readFileSync(DIST + 'flameup.min.js'))
      }
      if (url.pathname == '/other') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
        return res.end(OTHER)
      }
      res.writeHead(404, { 'Content-Type': 'text/plain' })
      res.end('not found')
    } catch {
      // The browser went away mid-request (an unload): nobody is left to answer.
      res.destroy()
    }
  })
  const port = await listen(server)
  origin = 'http://127.0.0.1:' + port

  /** The stand-in's log of calls it answered with a 2xx. */
  const accepted = () => api.requests.filter((entry) => entry.status >= 200 && entry.status < 300)

  return {
    api,
    origin,
    proxyRequests,
    /**
     * The test page, initialised with `config` (default FAST), then running `calls` through the stub.
     * `before`: script source run before the stub, in every engine (a fault to inject, e.g. no Web Locks).
     */
    pageUrl: (config = FAST, calls = [], before = '') =>
      origin +
      '/page?config=' +
      encodeURIComponent(JSON.stringify(config)) +
      '&calls=' +
      encodeURIComponent(JSON.stringify(calls)) +
      (before ? '&before=' + encodeURIComponent(before) : ''),
    /** A host page with a sandboxed iframe running the SDK with `config` (see sandboxPage). */
    sandboxUrl: (config) => origin + '/sandbox?config=' + encodeURIComponent(JSON.stringify(config)),
    /** The script-tag page (no stub) with `data-*` attributes from `dataset`, running `code` inline after the tag. */
    tagUrl: (dataset = { proxyUrl: '/flameup' }, code = '') =>
      origin + '/tag?dataset=' + encodeURIComponent(JSON.stringify(dataset)) + '&code=' + encodeURIComponent(code),
    otherUrl: origin + '/other',
    accepted,
    /** Distinct userIds the API accepted. */
    deliveredUsers: () => new Set(accepted().map((entry) => entry.userId)).size,
    /** userIds and messageIds that the API accepted more than once. */
    duplicates: () => ({
      userIds: [...countBy(accepted(), 'userId')].filter(([, n]) => n > 1).map(([id]) => id),
      messageIds: [...countBy(accepted(), 'messageId')].filter(([, n]) => n > 1).map(([id]) => id),
    }),
    /** How many times the API accepted each userId. */
    acceptedCount: (userId) => accepted().filter((entry) => entry.userId == userId).length,
    /** How many POST batches browsers sent to the proxies, and how many times each messageId was in one. */
    batchesSent: () => proxyRequests.filter((entry) => entry.method == 'POST').length,
    sentCounts: () => countBy(proxyRequests.flatMap((entry) => entry.messageIds.map((messageId) => ({ messageId }))), 'messageId'),
    close: async () => {
      await closeServer(server)
      await api.close()
    },
  }
}

/**
 * Runs the real CLI (dist/proxy-cli.mjs) on a free port in front of the stand-in. Resolves once it
 * prints its URL; `close()` stops it with SIGTERM (SIGKILL after 3 s) and waits for the exit.
 */
export async function startCli({ apiHost, apiKey = API_KEY, workspaceId = WORKSPACE_ID, allowedOrigins = '' }) {
  const child = spawn(process.execPath, [DIST + 'proxy-cli.mjs'], {
    env: {
      ...process.env,
      FLAMEUP_API_KEY: apiKey,
      FLAMEUP_WORKSPACE_ID: workspaceId,
      FLAMEUP_API_HOST: apiHost,
      FLAMEUP_ALLOWED_ORIGINS: allowedOrigins,
      HOST: '127.0.0.1',
      PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const close = async () => {
    if (child.exitCode == null && child.signalCode == null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    }
  }
  try {
    const url = await new Promise((resolve, reject) => {
      let stdout = ''
      const timer = setTimeout(() => reject(new Error('flameup-proxy did not start: ' + stderr)), 10000)
      child.stdout.on('data', (chunk) => {
        stdout += chunk
        const match = /listening on (http:\/\/\S+)/.exec(stdout)
        if (match) {
          clearTimeout(timer)
          resolve(match[1])
        }
      })
      exited.then((code) => {
        clearTimeout(timer)
        reject(new Error('flameup-proxy exited with ' + code + ': ' + stderr))
      })
    })
    return { url, child, stderr: () => stderr, close }
  } catch (error) {
    await close()
    throw error
  }
}

/**
 * Opens a tab and records what reaches it uncaught: `pageerror` (uncaught exceptions) and the
 * test page's own unhandledrejection lines. Returns the page and that list.
 */
export const openPage = async (context, url) => {
  const page = await context.newPage()
  const errors = watchErrors(page)
  if (url) await gotoReady(page, url)
  return { page, errors }
}

export const watchErrors = (page) => {
  const errors = []
  page.on('pageerror', (error) => errors.push('pageerror: ' + (error.stack || error.message)))
  page.on('console', (message) => {
    if (message.text().startsWith(PAGE_ERROR_MARK)) errors.push(message.text())
  })
  return errors
}

/** Navigates and waits until the script tag has replaced the stub with the real client. */
export const gotoReady = async (page, url) => {
  await page.goto(url)
  await waitReady(page)
}

export const reloadReady = async (page) => {
  await page.reload()
  await waitReady(page)
}

export const waitReady = (page) => page.waitForFunction(() => window.flameup && !('q' in window.flameup), null, { timeout: 20000 })

export const identify = (page, userId, traits) =>
  page.evaluate(([userId, traits]) => window.flameup.identify(userId, traits), [userId, traits])

/** identify for each userId, all at once, in one evaluate. */
export const identifyMany = (page, userIds, traits = {}) =>
  page.evaluate(([userIds, traits]) => Promise.all(userIds.map((userId) => window.flameup.identify(userId, traits))), [userIds, traits])

export const pending = (page) => page.evaluate(() => window.flameup.pending())

/** The SDK events this page load has seen, as `[name, payload]`. */
export const events = (page, name) =>
  page.evaluate((name) => window.__events.filter(([event]) => !name || event == name).map(([, payload]) => payload), name)

/** Polls `read` every `interval` ms until `done(value)` or the deadline; returns the last value. */
export const waitFor = async (read, done, { timeout = 20000, interval = 50 } = {}) => {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() > deadline) return value
    await delay(interval)
  }
}
