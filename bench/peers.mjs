// `npm run bench` (through test/bench.mjs) or `node bench/peers.mjs`: what identify costs with
// Flameup's script tag in proxy mode and with the SDKs people use today, side by side in headless
// Debian Chromium, every request answered on 127.0.0.1. See bench/README.md.
import { spawnSync, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { availableParallelism, loadavg } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib'
import { build } from './lib/build.mjs'
import { CHROMIUM, launchChromium } from '../test/browser/chromium.mjs'

// Belt and braces for the benchmark: every host but loopback fails DNS, so even a request that
// escaped the Playwright route (none should) could never leave the machine.
const LOOPBACK_ONLY = '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'
import { findUserIds, now, startStub } from './lib/stub.mjs'

const BENCH = dirname(fileURLToPath(import.meta.url))
const ROOT = dirname(BENCH)
const PEERS_DIR = join(BENCH, 'peers')
const BUILD_DIR = join(PEERS_DIR, 'build')

/** The SDKs in table order; `pkg` is the npm package whose version is reported. */
export const SDKS = [
  { id: 'ours', name: 'Flameup (proxy mode)', pkg: 'flameup' },
  { id: 'segment', name: 'Segment analytics-next', pkg: '@segment/analytics-next' },
  { id: 'posthog', name: 'PostHog', pkg: 'posthog-js' },
  { id: 'amplitude', name: 'Amplitude', pkg: '@amplitude/analytics-browser' },
  { id: 'mixpanel', name: 'Mixpanel', pkg: 'mixpanel-browser' },
  { id: 'rudderstack', name: 'RudderStack v3', pkg: '@rudderstack/analytics-js' },
  { id: 'snowplow', name: 'Snowplow', pkg: '@snowplow/browser-tracker' },
]

/** Why a figure looks the way it does; printed in the table's note column. */
const NOTES = {
  ours: 'inline snippet + flameup.min.js; 1 POST per 50 calls to the proxy (the proxy fans out to the API server-side)',
  segment: 'settings from the CDN stub, lazy chunks counted; 1 POST per call, no batching by default',
  posthog: 'calls after the first send $set (no reset() between users); each new distinct id reloads /flags; batches every 3 s',
  amplitude: 'identify(Identify, { user_id }); batches of 30, flushed by flush()',
  mixpanel: 'core loader (no recorder); identify + people.set; batches every 5 s (no public flush)',
  rudderstack: '`/bundled` export (plugins compiled in; the default export fetches them from its CDN); 1 XHR per call',
  snowplow: 'no identify: setUserId + a self-describing event with the traits; 1 POST per event by default',
}

const TRAITS = (i) => ({ email: `user${i}@example.com`, first_name: 'Ann', last_name: `Lee ${i}`, plan: i % 2 ? 'pro' : 'free' })

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]

const versionOf = (pkg) => {
  const file = pkg === 'flameup' ? join(ROOT, 'package.json') : join(PEERS_DIR, 'node_modules', pkg, 'package.json')
  return JSON.parse(readFileSync(file, 'utf8')).version
}

/** Installs the pinned peers from bench/peers/package-lock.json when a fresh clone has none. */
const ensurePeers = (log) => {
  if (existsSync(join(PEERS_DIR, 'node_modules', 'esbuild'))) return
  log('bench: installing the peer SDKs into bench/peers (npm ci)…')
  const r = spawnSync('npm', ['ci', '--prefix', PEERS_DIR, '--no-audit', '--no-fund'], { stdio: 'inherit' })
  if (r.status !== 0) throw new Error('npm ci --prefix bench/peers failed')
}

const sizes = (buf) => ({
  min: buf.length,
  gzip: gzipSync(buf, { level: 9 }).length,
  brotli: brotliCompressSync(buf, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: buf.length },
  }).length,
})

/** The Flameup API stand-in: demo/api.mjs when it exists, else a minimal 201 answerer. */
const startFlameupApi = async ({ apiKey, workspaceId }) => {
  const demoApi = join(ROOT, 'demo', 'api.mjs')
  if (existsSync(demoApi)) {
    const mod = await import(pathToFileURL(demoApi).href)
    if (typeof mod.startApi === 'function') {
      const api = await mod.startApi({ port: 0, apiKey, workspaceId })
      return { ...api, kind: 'demo/api.mjs' }
    }
  }
  const requests = []
  const server = createServer(async (req, res) => {
    const chunks = []
    for await (const c of req) chunks.push(c)
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}')
    requests.push({ method: req.method, url: req.url, body })
    const now = new Date().toISOString()
    res.writeHead(201, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ id: `p_${requests.length}`, workspace_id: workspaceId, external_id: body.userId, email: body.email ?? null, attributes: body.traits ?? {}, status: 'active', created_at: now, updated_at: now, first_seen_at: now, last_seen_at: now }))
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
    kind: 'minimal 201 stub',
  }
}

/** Pages: one per SDK. Peers load their esbuild bundle as a module; ours uses the contract §5 script tag. */
const makePages = (ids, snippet) => {
  const pages = {}
  for (const id of ids) {
    pages[`/${id}/`] =
      id === 'ours'
        ? `<!doctype html><meta charset="utf-8"><title>ours</title>
<script>${snippet}</script>
<script>flameup.init({ proxyUrl: '/flameup' })</script>
<script async src="/ours/flameup.min.js"></script>
<script>
  let last
  window.bench = {
    ready: new Promise((resolve, reject) => {
      const poll = setInterval(() => {
        const f = window.flameup
        if (f && typeof f.pending === 'function') clearInterval(poll), f.pending().then(resolve, reject)
      }, 5)
    }),
    identify: (userId, traits) => (last = window.flameup.identify(userId, traits)),
    // flush() sends what is queued; an identify is queued once its promise resolves.
    flush: () => Promise.resolve(last).catch(() => {}).then(() => window.flameup.flush()),
  }
</script>`
        : `<!doctype html><meta charset="utf-8"><title>${id}</title>
<script type="module" src="/build/${id}/${id}.js"></script>`
  }
  return pages
}

/**
 * One fresh Chromium profile: open the SDK's page, wait until the SDK says it is ready and the
 * network has settled, then run `fn(page, session)`. Every request to a host other than
 * 127.0.0.1 is answered by the route below and logged; none leaves the machine.
 */
const withPage = async ({ stub, sdk, readyTimeout }, fn) => {
  const launched = now()
  const { context, close } = await launchChromium(undefined, { args: [LOOPBACK_ONLY] })
  const external = []
  const scripts = []
  try {
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      async (route) => {
        const req = route.request()
        const body = req.postDataBuffer() ?? Buffer.alloc(0)
        const url = new URL(req.url())
        const headers = await req.headersArray()
        const entry = {
          t: now(),
          end: undefined,
          method: req.method(),
          path: url.pathname,
          host: url.host,
          headerBytes: headers.reduce((n, h) => n + Buffer.byteLength(`${h.name}: ${h.value}\r\n`), `${req.method()} ${url.pathname}${url.search} HTTP/1.1\r\n`.length + 2),
          bodyBytes: body.length,
          kind: req.resourceType() === 'script' ? 'script' : 'api',
          ids: findUserIds(body, url),
          status: req.method() === 'OPTIONS' ? 204 : 200,
          external: true,
        }
        external.push(entry)
        const origin = (await req.headerValue('origin')) || '*'
        await route
          .fulfill({
            status: entry.status,
            headers: {
              'access-control-allow-origin': origin,
              'access-control-allow-credentials': 'true',
              'access-control-allow-headers': (await req.headerValue('access-control-request-headers')) || '*',
              'access-control-allow-methods': 'GET, POST, PUT, OPTIONS',
              'cross-origin-resource-policy': 'cross-origin',
              'content-type': entry.kind === 'script' ? 'text/javascript' : 'application/json',
            },
            body: req.method() === 'OPTIONS' ? '' : entry.kind === 'script' ? '' : '{}',
          })
          .catch(() => {})
        entry.end = now()
      },
    )
    const page = context.pages()[0] ?? (await context.newPage())
    const pageErrors = []
    const consoleMessages = {}
    page.on('pageerror', (e) => pageErrors.push(String(e.message || e).slice(0, 200)))
    page.on('console', (m) => {
      if (m.type() !== 'error' && m.type() !== 'warning') return
      const key = `${m.type()}: ${m.text().slice(0, 160)}`
      consoleMessages[key] = (consoleMessages[key] ?? 0) + 1
    })
    page.on('response', (response) => {
      if (response.request().resourceType() !== 'script') return
      scripts.push(
        response
          .body()
          .then((body) => ({ url: response.url(), body }))
          .catch(() => ({ url: response.url(), body: Buffer.alloc(0) })),
      )
    })
    const logStart = stub.log.length
    await page.goto(`${stub.origin}/${sdk.id}/`, { waitUntil: 'load', timeout: readyTimeout })
    await page.waitForFunction(() => window.bench, null, { timeout: readyTimeout })
    await page.evaluate((ms) => Promise.race([window.bench.ready, new Promise((_, no) => setTimeout(() => no(new Error(`SDK not ready in ${ms} ms`)), ms))]), readyTimeout)
    const isolated = await page.evaluate(() => crossOriginIsolated)
    const traffic = (since = 0) => [...stub.log.slice(logStart), ...external].filter((e) => e.t >= since && e.kind !== 'page')
    await waitQuiet({ traffic, quietMs: 1000, capMs: 5000, since: 0 })
    const session = { external, traffic, pageErrors, consoleMessages, isolated, scripts: () => Promise.all(scripts), loadMs: now() - launched }
    return await fn(page, session)
  } finally {
    await close()
  }
}

/** Waits until no request (other than script loads) has started or finished for `quietMs`. */
const waitQuiet = async ({ traffic, quietMs, capMs, since = now(), expectIds }) => {
  const start = now()
  for (;;) {
    await sleep(50)
    const t = now()
    const entries = traffic(since).filter((e) => e.kind !== 'script')
    const inflight = entries.some((e) => e.end === undefined || e.end === e.t)
    const last = entries.reduce((m, e) => Math.max(m, e.t, e.end ?? e.t), start)
    const quiet = t - last
    let seen = 0
    if (expectIds) {
      const ids = new Set()
      for (const e of entries) for (const id of e.ids) ids.add(id)
      seen = [...expectIds].filter((id) => ids.has(id)).length
    }
    const allSeen = !expectIds || seen === expectIds.size
    if (t - start >= capMs) return { timedOut: true, seen, waitedMs: t - start, endedAt: t }
    if (!inflight && quiet >= quietMs && allSeen) return { timedOut: false, seen, waitedMs: t - start, endedAt: t }
    // An SDK that never sends some calls (or encodes ids we cannot read) ends after a long silence.
    if (!inflight && quiet >= Math.max(quietMs, 6000)) return { timedOut: false, seen, waitedMs: t - start, endedAt: t }
  }
}

const userIds = (tag, n) => Array.from({ length: n }, (_, i) => `bu_${tag}_${i}`)

/** Bytes of the JavaScript the page fetched (plus, for ours, the inline snippet). */
const scriptBytes = async (session, extra = []) => {
  const files = [...extra]
  for (const { url, body } of await session.scripts()) files.push({ file: url.replace(/^https?:\/\/127\.0\.0\.1:\d+/, ''), ...sizes(body) })
  return { ...sumSizes(files), files }
}

const sumSizes = (files) => files.reduce((t, f) => ({ min: t.min + f.min, gzip: t.gzip + f.gzip, brotli: t.brotli + f.brotli }), { min: 0, gzip: 0, brotli: 0 })

/** Requests, bytes and time to the last acknowledgement for `n` identify calls. */
const wireRun = async (page, session, { sdk, n, quietMs, capMs }) => {
  const initTraffic = session.traffic(0).filter((e) => e.kind !== 'script')
  const ids = userIds(`${sdk.id}w`, n)
  const since = now()
  const { t0, hasFlush } = await page.evaluate(
    async ({ ids, traits }) => {
      const t0 = performance.timeOrigin + performance.now()
      for (let i = 0; i < ids.length; i++) {
        const p = window.bench.identify(ids[i], traits[i])
        if (p && typeof p.catch === 'function') p.catch(() => {})
      }
      const hasFlush = typeof window.bench.flush === 'function'
      if (hasFlush) Promise.resolve(window.bench.flush()).catch(() => {})
      return { t0, hasFlush }
    },
    { ids, traits: ids.map((_, i) => TRAITS(i)) },
  )
  const wait = await waitQuiet({ traffic: session.traffic, since, quietMs, capMs, expectIds: new Set(ids) })
  const sent = session.traffic(since).filter((e) => e.kind !== 'script' && e.t <= wait.endedAt)
  // Resource Timing cannot be used: Chromium adds no entry for a fetch whose body nobody reads,
  // which is what most SDKs do. The stub's clock (epoch, same machine) says when each answer was
  // written instead, which is within a fraction of a millisecond of the page receiving it on loopback.
  return {
    wire: {
      calls: n,
      requests: sent.length,
      bytes: sent.reduce((s, e) => s + e.headerBytes + e.bodyBytes, 0),
      bodyBytes: sent.reduce((s, e) => s + e.bodyBytes, 0),
      usersDelivered: wait.seen,
      firstRequestMs: sent.length ? Math.min(...sent.map((e) => e.t)) - t0 : null,
      answerMs: sent.map((e) => Math.round((e.end ?? e.t) - e.t)),
      lastAckMs: sent.length ? Math.max(...sent.map((e) => e.end ?? e.t)) - t0 : null,
      waitedMs: Math.round(wait.waitedMs),
      timedOut: wait.timedOut,
      flushCalled: hasFlush,
      requestsByPath: countBy(sent, (e) => `${e.method} ${e.external ? e.host : ''}${e.path}`),
      requestLog: sent.map(logLine),
    },
    init: {
      requests: initTraffic.length,
      bytes: initTraffic.reduce((s, e) => s + e.headerBytes + e.bodyBytes, 0),
      byPath: countBy(initTraffic, (e) => `${e.method} ${e.external ? e.host : ''}${e.path}`),
      requestLog: initTraffic.map(logLine),
    },
  }
}

/** One request as the results file lists it: `users` is how many benchmark user ids its body carried. */
const logLine = (e) => ({
  method: e.method,
  url: `${e.external ? `//${e.host}` : ''}${e.path}`,
  headerBytes: e.headerBytes,
  bodyBytes: e.bodyBytes,
  status: e.status,
  users: e.ids.length,
})

const countBy = (xs, key) => {
  const out = {}
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1
  return out
}

/**
 * Synchronous main-thread time of `n` identify calls, each in its own task (a MessageChannel
 * turn, as calls from separate user actions would be), timed with performance.now(); long tasks
 * are observed from the first call until what the calls queued has been sent.
 */
const timingRun = async (page, session, { sdk, n, quietMs, capMs }) => {
  const ids = userIds(`${sdk.id}t`, n)
  const since = now()
  const run = await page.evaluate(
    async ({ ids, traits }) => {
      window.__longTasks = []
      window.__observer = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longTasks.push(e.duration)
      })
      window.__observer.observe({ type: 'longtask' })
      const durations = new Float64Array(ids.length)
      const identify = window.bench.identify
      const channel = new MessageChannel()
      let i = 0
      await new Promise((done) => {
        channel.port1.onmessage = () => {
          const id = ids[i]
          const t = traits[i]
          const start = performance.now()
          const p = identify(id, t)
          durations[i] = performance.now() - start
          if (p && typeof p.catch === 'function') p.catch(() => {})
          if (++i < ids.length) channel.port2.postMessage(0)
          else done()
        }
        channel.port2.postMessage(0)
      })
      if (typeof window.bench.flush === 'function') Promise.resolve(window.bench.flush()).catch(() => {})
      // Timer resolution actually seen: the smallest non-zero step of performance.now().
      let step = Infinity
      for (let k = 0, a = performance.now(); k < 2000; k++) {
        const b = performance.now()
        if (b > a) step = Math.min(step, b - a)
        a = b
      }
      return { durations: [...durations], resolution: step, loopEnd: performance.timeOrigin + performance.now() }
    },
    { ids, traits: ids.map((_, i) => TRAITS(i)) },
  )
  const wait = await waitQuiet({ traffic: session.traffic, since, quietMs, capMs, expectIds: new Set(ids) })
  const longTasks = await page.evaluate(() => (window.__observer.disconnect(), window.__longTasks))
  const drained = session.traffic(since).filter((e) => e.kind !== 'script' && e.t <= wait.endedAt)
  const us = run.durations.map((ms) => ms * 1000)
  return {
    calls: n,
    medianUs: median(us),
    meanUs: mean(us),
    p95Us: percentile(us, 0.95),
    maxUs: Math.max(...us),
    totalSyncMs: us.reduce((a, b) => a + b, 0) / 1000,
    longTasks: longTasks.length,
    longTaskMs: longTasks.reduce((a, b) => a + b, 0),
    timerResolutionUs: run.resolution * 1000,
    crossOriginIsolated: session.isolated,
    drain: {
      usersDelivered: wait.seen,
      requests: drained.length,
      // How long the stub (for ours: the proxy and the API behind it) took to answer, and when requests went out.
      answerMs: drained.map((e) => Math.round((e.end ?? e.t) - e.t)),
      sentAtMs: drained.map((e) => Math.round(e.t - run.loopEnd)),
      // From the end of the last call to the end of the last answer.
      lastAckAfterLoopMs: drained.length ? Math.round(Math.max(...drained.map((e) => e.end ?? e.t)) - run.loopEnd) : null,
      waitedMs: Math.round(wait.waitedMs),
      timedOut: wait.timedOut,
    },
  }
}

/**
 * Everything for one SDK in one fresh profile: the 100-call wire run on the freshly loaded page,
 * then, once that has been delivered, the 1,000-call timing run; then the JavaScript it fetched.
 */
const measure = ({ stub, sdk, wireCalls, identifyCalls, quietMs, capMs, readyTimeout, snippetSize }) =>
  withPage({ stub, sdk, readyTimeout }, async (page, session) => {
    const t1 = now()
    const wire = await wireRun(page, session, { sdk, n: wireCalls, quietMs, capMs })
    const t2 = now()
    const mainThread = await timingRun(page, session, { sdk, n: identifyCalls, quietMs, capMs })
    const phasesMs = { launchAndLoad: Math.round(session.loadMs), wireRun: Math.round(t2 - t1), timingRun: Math.round(now() - t2) }
    const extra = sdk.id === 'ours' ? [{ file: 'snippet.min.js (inline)', ...snippetSize }] : []
    return {
      bytes: await scriptBytes(session, extra),
      ...wire,
      mainThread,
      external: session.external.map((e) => `${e.method} ${e.host}${e.path}`),
      pageErrors: [...new Set(session.pageErrors)],
      console: session.consoleMessages,
      phasesMs,
    }
  })

const flameupBuild = () => {
  const git = (...args) => spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).stdout?.trim() || undefined
  const min = join(ROOT, 'dist', 'flameup.min.js')
  return {
    commit: git('rev-parse', '--short', 'HEAD'),
    srcChanged: Boolean(git('status', '--porcelain', '--', 'src')),
    distBuiltAt: existsSync(min) ? statSync(min).mtime.toISOString() : undefined,
  }
}

/** Checks that dist/ holds a working script-tag build and proxy; returns why not otherwise. */
const oursStatus = async () => {
  const min = join(ROOT, 'dist', 'flameup.min.js')
  const snippet = join(ROOT, 'dist', 'snippet.min.js')
  const proxy = join(ROOT, 'dist', 'proxy.mjs')
  for (const f of [min, snippet, proxy]) if (!existsSync(f)) return { ok: false, reason: `${relative(ROOT, f)} missing (run npm run build)` }
  if (readFileSync(min).length < 200) return { ok: false, reason: 'dist/flameup.min.js is a placeholder' }
  const mod = await import(`${pathToFileURL(proxy).href}?t=${Date.now()}`).catch((e) => ({ error: e }))
  if (typeof mod.createProxyHandler !== 'function') return { ok: false, reason: 'dist/proxy.mjs has no createProxyHandler' }
  return { ok: true, createProxyHandler: mod.createProxyHandler, snippet: readFileSync(snippet, 'utf8').trim() }
}

const kB = (n) => (n >= 1000 ? `${(n / 1000).toFixed(1)} kB` : `${n} B`)
const ratio = (value, base) => (base && value != null && Number.isFinite(value / base) ? ` ×${(value / base).toFixed(value / base >= 100 ? 0 : 1)}` : '')
const fmt = (v, f, base) => (v == null ? '–' : `${f(v)}${base == null ? '' : ratio(v, base)}`)
const us = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1))

/** The Markdown table of the results, each figure with its ratio to ours. */
export const toMarkdown = (results) => {
  const ours = results.rows.find((r) => r.id === 'ours' && !r.error)
  const base = (f) => (ours ? f(ours) : undefined)
  const head = '| SDK | version | min | gzip | brotli | µs/identify median | µs/identify mean | long tasks | requests /100 | bytes on the wire /100 | last ack (ms) | note |'
  const lines = [head, `|${'---|'.repeat(12)}`]
  for (const r of results.rows) {
    if (r.error) {
      lines.push(`| ${r.name} | ${r.version ?? '–'} | – | – | – | – | – | – | – | – | – | not measured: ${r.error} |`)
      continue
    }
    const b = (f) => (r.id === 'ours' ? undefined : base(f))
    lines.push(
      `| ${r.name} | ${r.version} | ${fmt(r.bytes.min, kB, b((x) => x.bytes.min))} | ${fmt(r.bytes.gzip, kB, b((x) => x.bytes.gzip))} | ${fmt(r.bytes.brotli, kB, b((x) => x.bytes.brotli))} | ${fmt(r.mainThread.medianUs, us, b((x) => x.mainThread.medianUs))} | ${fmt(r.mainThread.meanUs, us, b((x) => x.mainThread.meanUs))} | ${fmt(r.mainThread.longTasks, String, b((x) => x.mainThread.longTasks))} (${r.mainThread.longTaskMs.toFixed(0)} ms) | ${fmt(r.wire.requests, String, b((x) => x.wire.requests))} | ${fmt(r.wire.bytes, kB, b((x) => x.wire.bytes))} | ${fmt(r.wire.lastAckMs, (v) => v.toFixed(0), b((x) => x.wire.lastAckMs))} | ${r.note} |`,
    )
  }
  return lines.join('\n')
}

const describe = (results) => {
  const lines = [
    `Headless ${results.chromium}, ${results.cores} cores, Node ${results.node}; ${results.options.identifyCalls} identify calls for main-thread time, ${results.options.wireCalls} for the wire; run took ${results.runSeconds.toFixed(0)} s.`,
    'Bytes: the JavaScript each page fetched (min, gzip -9, brotli -q 11, per file then summed). µs: synchronous time of one identify call, each call in its own task, performance.now() at 5 µs resolution (cross-origin isolated page). Long tasks: count (total duration) from the first of the calls until what they queued was sent. Requests and bytes on the wire: what the page sent (request line, headers with cookies, body; script loads excluded) from the first of 100 calls until everything was sent. Last ack: from the first call to the end of the last response. Ratios are to Flameup.',
  ]
  const ours = results.rows.find((r) => r.id === 'ours' && !r.error)
  if (ours && ours.mainThread.medianUs <= 2 * ours.mainThread.timerResolutionUs)
    lines.push(`Flameup's median identify is within two ticks of the ${ours.mainThread.timerResolutionUs.toFixed(0)} µs clock, so the µs ratios are approximate.`)
  const details = []
  for (const r of results.rows) {
    if (r.error) continue
    const bits = []
    if (r.bytes.files.length > 1) bits.push(`${r.bytes.files.length} JS files: ${r.bytes.files.map((f) => `${f.file} ${kB(f.brotli)} br`).join(', ')}`)
    if (r.init.requests) bits.push(`at load: ${Object.entries(r.init.byPath).map(([k, v]) => `${v}× ${k}`).join(', ')}`)
    bits.push(`identify traffic: ${Object.entries(r.wire.requestsByPath).map(([k, v]) => `${v}× ${k}`).join(', ') || 'none'}`)
    bits.push(`users seen by the stub: ${r.wire.usersDelivered}/${r.wire.calls} (wire run), ${r.mainThread.drain.usersDelivered}/${r.mainThread.calls} (timing run)`)
    if (r.external.length) bits.push(`answered by the route safety net: ${[...new Set(r.external)].join(', ')}`)
    const messages = Object.entries(r.console ?? {}).sort((a, b) => b[1] - a[1])
    if (messages.length) bits.push(`console: ${messages.slice(0, 3).map(([m, n]) => `${n}× "${m.replace(/\|/g, '/')}"`).join(', ')}${messages.length > 3 ? `, +${messages.length - 3} more` : ''}`)
    if (r.pageErrors?.length) bits.push(`page errors: ${r.pageErrors.slice(0, 2).join(' / ')}`)
    if (r.extraNote) bits.push(r.extraNote)
    details.push(`- **${r.name}**: ${bits.join('; ')}.`)
  }
  return `${lines.join('\n\n')}\n\n${toMarkdown(results)}\n\n${details.join('\n')}\n`
}

/**
 * Runs the comparison and returns the results object.
 * @param {object} [options]
 * @param {string[]} [options.sdks] ids from SDKS to run (default: all)
 * @param {number} [options.identifyCalls] calls timed for main-thread cost (default 1000)
 * @param {number} [options.wireCalls] calls counted on the wire (default 100)
 * @param {number} [options.quietMs] silence that ends a delivery wait (default 2000)
 * @param {number} [options.capMs] cap of each delivery wait (default 20000)
 * @param {boolean} [options.write] write bench/results/peers.{json,md} (default true)
 * @param {boolean} [options.print] print the Markdown to stdout (default true)
 * @param {(msg: string) => void} [options.log] progress lines (default console.error)
 */
export async function benchPeers(options = {}) {
  const {
    sdks = SDKS.map((s) => s.id),
    identifyCalls = 1000,
    wireCalls = 100,
    quietMs = 2000,
    capMs = 20000,
    readyTimeout = 15000,
    write = true,
    print = true,
    log = (m) => console.error(m),
  } = options
  const started = now()
  ensurePeers(log)
  const selected = SDKS.filter((s) => sdks.includes(s.id))
  const peers = selected.filter((s) => s.id !== 'ours').map((s) => s.id)
  log(`bench: bundling ${peers.join(', ')} with esbuild…`)
  // Size only: RudderStack's default export without the plugins it would fetch from its CDN.
  const sizeOnly = peers.includes('rudderstack') ? ['rudderstack-core'] : []
  await build({ peersDir: PEERS_DIR, names: [...peers, ...sizeOnly], outDir: BUILD_DIR })
  const rudderCore = sizeOnly.length ? sumSizes(readdirSync(join(BUILD_DIR, 'rudderstack-core')).map((f) => sizes(readFileSync(join(BUILD_DIR, 'rudderstack-core', f))))) : undefined

  const files = {}
  for (const id of peers) for (const f of readdirSync(join(BUILD_DIR, id))) files[`/build/${id}/${f}`] = join(BUILD_DIR, id, f)
  const ours = selected.some((s) => s.id === 'ours') ? await oursStatus() : { ok: false, reason: 'not selected' }
  if (ours.ok) files['/ours/flameup.min.js'] = join(ROOT, 'dist', 'flameup.min.js')

  const stub = await startStub({
    pages: makePages(selected.map((s) => s.id), ours.snippet ?? ''),
    files,
    posthogDist: join(PEERS_DIR, 'node_modules', 'posthog-js', 'dist'),
  })
  let api
  if (ours.ok) {
    const apiKey = 'fl_bench_key'
    const workspaceId = 'ws_bench'
    api = await startFlameupApi({ apiKey, workspaceId })
    stub.setProxy({
      path: '/flameup',
      handler: ours.createProxyHandler({ apiKey, workspaceId, apiHost: api.url, allowedOrigins: [stub.origin] }),
    })
  }

  const rows = []
  try {
    for (const sdk of selected) {
      const row = { id: sdk.id, name: sdk.name, package: sdk.pkg, version: versionOf(sdk.pkg), note: NOTES[sdk.id] }
      rows.push(row)
      if (sdk.id === 'ours' && !ours.ok) {
        row.error = ours.reason
        log(`bench: ours skipped: ${ours.reason}`)
        continue
      }
      const t = now()
      try {
        const upstreamBefore = api?.requests.length ?? 0
        row.loadAverage = loadavg()[0]
        const snippetSize = sizes(Buffer.from(ours.snippet ?? ''))
        Object.assign(row, await measure({ stub, sdk, wireCalls, identifyCalls, quietMs, capMs, readyTimeout, snippetSize }))
        if (sdk.id === 'rudderstack' && rudderCore) {
          row.bytesDefaultExportWithoutPlugins = rudderCore
          row.extraNote = `the default export alone, before the plugins it fetches from RudderStack's CDN, is ${kB(rudderCore.min)} min / ${kB(rudderCore.gzip)} gzip / ${kB(rudderCore.brotli)} brotli: a lower bound`
        }
        if (sdk.id === 'ours') {
          const upstream = (api?.requests.length ?? 0) - upstreamBefore
          row.extraNote = `the proxy made ${upstream} requests to the API stand-in (${api.kind}) for both runs together, server to server`
        }
        log(`bench: ${sdk.id} done in ${((now() - t) / 1000).toFixed(1)} s (${kB(row.bytes.brotli)} br, ${row.mainThread.medianUs.toFixed(1)} µs median, ${row.wire.requests} requests, ${row.wire.usersDelivered}/${wireCalls} users delivered)`)
      } catch (error) {
        row.error = String(error?.message ?? error).split('\n')[0]
        log(`bench: ${sdk.id} failed: ${row.error}`)
      }
    }
  } finally {
    await stub.close()
    await api?.close?.()
  }

  const results = {
    date: new Date().toISOString(),
    chromium: execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).split(' built')[0].trim(),
    node: process.versions.node,
    // Which Flameup was measured: the commit, whether src/ had uncommitted changes, when dist/ was built.
    flameup: flameupBuild(),
    cores: availableParallelism(),
    options: { identifyCalls, wireCalls, quietMs, capMs },
    runSeconds: (now() - started) / 1000,
    rows,
  }
  const md = describe(results)
  if (write) {
    mkdirSync(join(BENCH, 'results'), { recursive: true })
    writeFileSync(join(BENCH, 'results', 'peers.json'), `${JSON.stringify(results, null, 2)}\n`)
    writeFileSync(join(BENCH, 'results', 'peers.md'), md)
  }
  if (print) console.log(md)
  return results
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'))
  benchPeers(only.length ? { sdks: only, write: false } : {}).then(
    (r) => process.exit(r.rows.some((x) => x.error) ? 1 : 0),
    (e) => {
      console.error(e)
      process.exit(1)
    },
  )
}
