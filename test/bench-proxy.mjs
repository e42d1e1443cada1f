// `npm run bench -- proxy` (issue 11): flameup-proxy (the built CLI) and a lean forwarder
// (bench/forwarder.mjs) side by side, in one run, against the same upstream stand-in
// (bench/upstream.mjs, its own process). The load generator is this process: undici Pool
// connections, each posting batches back to back as the SDK does (text/plain, unique messageIds).
// Figures come from /proc (CPU, peak RSS) and the upstream's own count of calls per messageId.
// `node test/bench-proxy.mjs` prints the figures; `benchProxy()` returns them.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { createServer } from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Pool } from 'undici'

const file = (path) => fileURLToPath(new URL(path, import.meta.url))
// FLAMEUP_BENCH_CLI: another build of the CLI to measure (a step of a change, a release).
const CLI = process.env.FLAMEUP_BENCH_CLI || file('../dist/proxy-cli.mjs')
const API_KEY = 'fl_bench_key_0123456789'
const WORKSPACE_ID = 'ws_bench'
const REDIS_SERVER = '/usr/bin/redis-server'

const children = new Set()

/** Starts a process and resolves with its URL once it prints `listening on http://...`. */
const start = (command, args, env = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let out = ''
    let err = ''
    child.stderr.on('data', (chunk) => (err = (err + chunk).slice(-2000)))
    child.stdout.on('data', (chunk) => {
      out += chunk
      const match = /listening on (http:\/\/\S+)|Ready to accept connections/.exec(out)
      if (match) resolve({ child, url: match[1], stderr: () => err })
    })
    child.once('exit', (code) => reject(new Error(command + ' exited with ' + code + ': ' + err)))
  })

const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', resolve)
    child.kill('SIGKILL')
  })

const startUpstream = (latencyMs = 0) => start(process.execPath, [file('../bench/upstream.mjs')], { LATENCY_MS: String(latencyMs) })

const startProxy = (apiHost, env = {}) =>
  start(process.execPath, [CLI], {
    FLAMEUP_API_KEY: API_KEY,
    FLAMEUP_WORKSPACE_ID: WORKSPACE_ID,
    FLAMEUP_API_HOST: apiHost,
    // One load generator on one address: a per-client rate limit would measure only itself.
    FLAMEUP_RATE_LIMIT: '0',
    HOST: '127.0.0.1',
    PORT: '0',
    ...env,
  })

const startForwarder = (apiHost) =>
  start(process.execPath, [file('../bench/forwarder.mjs')], { API_URL: apiHost + '/api/v1/workspaces/' + WORKSPACE_ID + '/people', FLAMEUP_API_KEY: API_KEY })

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

const stats = async (upstream) => (await fetch(upstream.url + '/__stats')).json()
const reset = (upstream) => fetch(upstream.url + '/__reset', { method: 'POST' })

/** Resident memory of a process in MB, from /proc (Linux); `VmHWM` is the kernel's own peak. */
const memoryOf = (pid, field) => {
  const match = new RegExp(field + ':\\s+(\\d+) kB').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Number(match[1]) / 1024 : undefined
}
/** CPU time a process has used, in ms, from /proc (USER_HZ is 100 on every mainstream kernel). */
const cpuMsOf = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
const round = (value, digits = 1) => (value === undefined || Number.isNaN(value) ? undefined : Number(value.toFixed(digits)))

let serial = 0
const itemOf = (prefix, traits) => {
  const n = ++serial
  return {
    messageId: prefix + n,
    userId: 'user-' + n,
    email: 'user' + n + '@example.com',
    traits: traits ?? { first_name: 'Bench', plan: n % 2 ? 'pro' : 'free', seats: n % 50 },
    timestamp: new Date().toISOString(),
  }
}

/**
 * `connections` loops, each posting one batch at a time until `durationMs` passed (or `batches`
 * were sent in all). A batch not answered within `abandonMs` is aborted, as a closed tab would.
 */
const load = async ({ url, connections, durationMs = Infinity, batches = Infinity, batchOf, abandonMs = 0 }) => {
  const target = new URL(url)
  const pool = new Pool(target.origin, { connections, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 })
  const latencies = []
  const counts = { items: 0, delivered: 0, itemRetry: 0, status: {}, retryAfter: 0, abandoned: 0 }
  const abandoned = []
  let sent = 0
  const deadline = performance.now() + durationMs
  const worker = async () => {
    while (performance.now() < deadline && sent < batches) {
      sent++
      const batch = batchOf()
      const body = JSON.stringify({ batch, sentAt: new Date().toISOString() })
      const began = performance.now()
      const signal = abandonMs ? AbortSignal.timeout(abandonMs) : undefined
      try {
        const response = await pool.request({ path: target.pathname, method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8' }, body, signal })
        const text = await response.body.text()
        latencies.push(performance.now() - began)
        counts.status[response.statusCode] = (counts.status[response.statusCode] || 0) + 1
        if (response.headers['retry-after']) counts.retryAfter++
        counts.items += batch.length
        if (response.statusCode == 200)
          for (const result of JSON.parse(text).results) {
            if (result.status >= 200 && result.status < 300) counts.delivered++
            else if (result.status == 503) counts.itemRetry++
          }
      } catch {
        counts.abandoned++
        abandoned.push({ ids: batch.map((item) => item.messageId), at: Date.now() })
      }
    }
  }
  const began = performance.now()
  await Promise.all(Array.from({ length: connections }, worker))
  const seconds = (performance.now() - began) / 1000
  await pool.destroy()
  latencies.sort((a, b) => a - b)
  return { seconds, latencies, counts, abandoned, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) }
}

/** CPU and delivered items of one server over one run, to add up across rounds. */
const tally = () => ({ seconds: 0, delivered: 0, items: 0, cpuMs: 0, latencies: [] })

/** A throughput run against a server process, added to its tally. */
const measureInto = async (total, server, options) => {
  const cpu = cpuMsOf(server.child.pid)
  const run = await load(options)
  total.cpuMs += cpuMsOf(server.child.pid) - cpu
  total.seconds += run.seconds
  total.delivered += run.counts.delivered
  total.items += run.counts.items
  total.latencies.push(...run.latencies)
}

const figures = (total, server) => {
  const sorted = total.latencies.sort((a, b) => a - b)
  return {
    itemsPerSecond: Math.round(total.delivered / total.seconds),
    p50Ms: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
    cpuMsPerItem: round(total.cpuMs / Math.max(1, total.delivered), 3),
    peakRssMb: round(memoryOf(server.child.pid, 'VmHWM')),
    delivered: total.delivered,
    failedItems: total.items - total.delivered,
  }
}

/**
 * Servers measured in alternating rounds after a warm-up each (connections, JIT), so that load
 * from other work on a shared machine falls on each alike.
 */
const measureSideBySide = async (servers, { rounds, durationMs, ...options }) => {
  for (const { server, path } of servers) await load({ ...options, url: server.url + path, durationMs: 1000 })
  const totals = servers.map(tally)
  for (let round = 0; round < rounds; round++)
    for (const [index, { server, path }] of servers.entries()) await measureInto(totals[index], server, { ...options, url: server.url + path, durationMs: durationMs / rounds })
  return servers.map(({ server }, index) => figures(totals[index], server))
}

/**
 * Runs the parts named in `parts` (default all): 'side' (flameup and the forwarder, 50
 * connections), 'wide' (200 connections), 'overload', 'heavy' (12,000 x 30 KB), 'redis'.
 */
export async function benchProxy({ durationMs = 6000, itemsPerBatch = 25, parts = ['side', 'wide', 'overload', 'heavy', 'redis'] } = {}) {
  if (!existsSync(CLI)) throw new Error('dist/proxy-cli.mjs is missing: run `npm run build` first')
  const result = {}
  // The machine may be shared: the load average before and after says how noisy the figures are.
  const loadBefore = loadavg()
  try {
    const upstream = await startUpstream(0)
    const batchOf = () => Array.from({ length: itemsPerBatch }, () => itemOf('m-'))

    // 1. Side by side, 25-item batches x 50 connections; each server in its own fresh process.
    if (parts.includes('side')) {
      const [proxy, forwarder] = await Promise.all([startProxy(upstream.url), startForwarder(upstream.url)])
      ;[result.flameup, result.forwarder] = await measureSideBySide(
        [
          { server: proxy, path: '/flameup' },
          { server: forwarder, path: '/' },
        ],
        { rounds: 3, connections: 50, durationMs, batchOf },
      )
      await Promise.all([stop(proxy.child), stop(forwarder.child)])
      result.ratio = {
        itemsPerSecond: round(result.flameup.itemsPerSecond / result.forwarder.itemsPerSecond, 2),
        cpuPerItem: round(result.flameup.cpuMsPerItem / result.forwarder.cpuMsPerItem, 2),
      }
    }

    // 2. 200 connections: peak RSS.
    if (parts.includes('wide')) {
      const wide = await startProxy(upstream.url)
      ;[result.wide] = await measureSideBySide([{ server: wide, path: '/flameup' }], { rounds: 1, connections: 200, durationMs: durationMs / 2, batchOf })
      await stop(wide.child)
    }

    // 3. Overload: 1,000 connections, the API answering in 200 ms, clients giving up after 5 s.
    if (parts.includes('overload')) {
    const slow = await startUpstream(200)
    const loaded = await startProxy(slow.url)
    const over = await load({ url: loaded.url + '/flameup', connections: 1000, durationMs: 8000, batchOf: () => Array.from({ length: itemsPerBatch }, () => itemOf('ab-')), abandonMs: 5000 })
    // Give calls already in flight time to land, then see which calls of abandoned batches went out after the abort.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const { arrivals, calls } = await stats(slow)
    let sentAfter = 0
    let sentBefore = 0
    let abandonedItems = 0
    for (const { ids, at } of over.abandoned)
      for (const id of ids) {
        abandonedItems++
        if (arrivals[id] > at) sentAfter++
        else if (arrivals[id]) sentBefore++
      }
    result.overload = {
      peakRssMb: round(memoryOf(loaded.child.pid, 'VmHWM')),
      alive: loaded.child.exitCode === null,
      status: over.counts.status,
      retryAfter: over.counts.retryAfter,
      delivered: over.counts.delivered,
      p99Ms: round(over.p99),
      abandonedBatches: over.counts.abandoned,
      abandonedItems,
      // Calls of abandoned batches that reached the API before / after their client gave up: those
      // after can only be calls already in flight (at most maxConcurrency = 64 at any moment).
      abandonedItemsSentBeforeAbort: sentBefore,
      abandonedItemsSentAfterAbort: sentAfter,
      apiCalls: calls,
      maxInFlight: 64,
    }
    await stop(loaded.child)
    await stop(slow.child)
    }

    // 4. 12,000 distinct calls of about 30 KB each (two per batch: the SDK's 64 KB limit).
    if (parts.includes('heavy')) {
    await reset(upstream)
    const big = await startProxy(upstream.url)
    const blob = 'x'.repeat(30000)
    const heavy = await load({ url: big.url + '/flameup', connections: 50, batches: 6000, batchOf: () => [itemOf('h-', { note: blob }), itemOf('h-', { note: blob })] })
    result.heavy = { calls: heavy.counts.delivered, peakRssMb: round(memoryOf(big.child.pid, 'VmHWM')) }
    await stop(big.child)
    }

    // 5. Two instances sharing Redis: 2,500 items to both at once, then again one after the other.
    if (parts.includes('redis') && existsSync(REDIS_SERVER)) {
      const port = await freePort()
      const redis = await start(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
      await reset(upstream)
      const env = { FLAMEUP_REDIS_URL: 'redis://127.0.0.1:' + port }
      const [a, b] = await Promise.all([startProxy(upstream.url, env), startProxy(upstream.url, env)])
      const batchesOf = Array.from({ length: 100 }, () => Array.from({ length: 25 }, () => itemOf('r-')))
      const post = async (url, batch) => {
        // As the SDK does: items answered 503 (in flight on the other instance) are sent again.
        for (let left = batch, round = 0; left.length && round < 20; round++) {
          const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ batch: left }) })
          const { results } = await response.json()
          // The whole request refused (503: over maxPending): all of it again after a moment.
          if (!results) {
            await new Promise((resolve) => setTimeout(resolve, 100))
            continue
          }
          const retry = new Set(results.filter((r) => r.status == 503).map((r) => r.messageId))
          if (retry.size) await new Promise((resolve) => setTimeout(resolve, 100))
          left = left.filter((item) => retry.has(item.messageId))
        }
      }
      await Promise.all(batchesOf.flatMap((batch) => [post(a.url + '/flameup', batch), post(b.url + '/flameup', batch)]))
      for (const batch of batchesOf) {
        await post(a.url + '/flameup', batch)
        await post(b.url + '/flameup', batch)
      }
      const counted = await stats(upstream)
      result.redis = { items: 2500, apiCalls: counted.calls, distinct: counted.distinct, duplicates: counted.duplicates }
      await Promise.all([stop(a.child), stop(b.child), stop(redis.child)])
    }
    await stop(upstream.child)
  } finally {
    for (const child of children) await stop(child)
  }
  result.machine = {
    date: new Date().toISOString(),
    cores: cpus().length,
    node: process.version,
    loadAverage: { before: loadBefore.map((value) => round(value, 2)), after: loadavg().map((value) => round(value, 2)) },
  }
  return result
}

const TARGET = { itemsRatio: 0.5, cpuRatio: 2, wideRssMb: 200, overloadRssMb: 250, heavyRssMb: 200 }
const mark = (ok) => (ok ? '✓' : '✗')

/** The figures as a short Markdown block for README.md and docs/proxy.md (`figures:bench-proxy`). */
export const readmeOf = (r) => {
  const m = r.machine
  const lines = []
  if (r.flameup)
    lines.push(
      '| 25-item batches × 50 connections | items/s | p50 / p99 ms | CPU ms/item | peak RSS MB |',
      '|---|---:|---:|---:|---:|',
      `| flameup-proxy (CLI) | ${r.flameup.itemsPerSecond} | ${r.flameup.p50Ms} / ${r.flameup.p99Ms} | ${r.flameup.cpuMsPerItem} | ${r.flameup.peakRssMb} |`,
      `| lean forwarder (\`bench/forwarder.mjs\`) | ${r.forwarder.itemsPerSecond} | ${r.forwarder.p50Ms} / ${r.forwarder.p99Ms} | ${r.forwarder.cpuMsPerItem} | ${r.forwarder.peakRssMb} |`,
      `| flameup / forwarder | ${r.ratio.itemsPerSecond}× (target ≥ ${TARGET.itemsRatio}) ${mark(r.ratio.itemsPerSecond >= TARGET.itemsRatio)} | | ${r.ratio.cpuPerItem}× (target ≤ ${TARGET.cpuRatio}) ${mark(r.ratio.cpuPerItem <= TARGET.cpuRatio)} | |`,
      '',
    )
  if (r.wide) lines.push(`- 200 connections: ${r.wide.itemsPerSecond} items/s, peak RSS ${r.wide.peakRssMb} MB (target ≤ ${TARGET.wideRssMb}) ${mark(r.wide.peakRssMb <= TARGET.wideRssMb)}`)
  const o = r.overload
  if (o)
    lines.push(
      `- Overload (1,000 connections, API answering in 200 ms, clients giving up after 5 s): peak RSS ${o.peakRssMb} MB (target ≤ ${TARGET.overloadRssMb}) ${mark(o.peakRssMb <= TARGET.overloadRssMb)}, ` +
        `${o.alive ? 'no crash' : 'crashed'}, ${o.status['503'] || 0} answers 503 with \`Retry-After\`; of the ${o.abandonedItems} calls in batches whose client gave up, ${o.abandonedItemsSentAfterAbort} reached the API afterwards (calls in flight when their client gave up; never more than ${o.maxInFlight} at a moment)`,
    )
  if (r.heavy) lines.push(`- 12,000 distinct 30 KB calls: peak RSS ${r.heavy.peakRssMb} MB (target < ${TARGET.heavyRssMb}) ${mark(r.heavy.peakRssMb < TARGET.heavyRssMb)}`)
  if (r.redis) lines.push(`- Two instances sharing Redis, ${r.redis.items} items sent to both at once and again one after the other: ${r.redis.apiCalls} API calls, ${r.redis.duplicates} duplicates ${mark(r.redis.duplicates == 0)}`)
  if (m)
    lines.push(
      '',
      `Measured ${m.date.slice(0, 10)} with \`npm run bench -- proxy\` on a ${m.cores}-core machine (Node ${m.node.slice(1)}) shared with other work: load average ${m.loadAverage.before[0]} before, ${m.loadAverage.after[0]} after.`,
    )
  return lines.join('\n')
}

/** Writes bench/results/proxy.json: every figure, and `readme` for `npm run readme`. */
export const writeBenchProxy = (result) => {
  let commit
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {}
  const path = file('../bench/results/proxy.json')
  writeFileSync(path, JSON.stringify({ ...result, commit, readme: readmeOf(result) }, null, 2) + '\n')
  return path
}

export const formatBenchProxy = (r) => {
  const row = (name, m) => `| ${name} | ${m.itemsPerSecond} | ${m.p50Ms} / ${m.p99Ms} | ${m.cpuMsPerItem} | ${m.peakRssMb} | ${m.failedItems} |`
  const o = r.overload
  return [
    ...(r.flameup
      ? [
          '25-item batches x 50 connections, same upstream stand-in (its own process), in one run (3 alternating rounds each):',
          '',
          '| | items/s | p50 / p99 ms | CPU ms/item | peak RSS MB | failed items |',
          '|---|---:|---:|---:|---:|---:|',
          row('flameup-proxy (CLI)', r.flameup),
          row('lean forwarder (bench/forwarder.mjs)', r.forwarder),
          `| flameup / forwarder | ${r.ratio.itemsPerSecond}x | | ${r.ratio.cpuPerItem}x | | |`,
          '',
        ]
      : []),
    r.wide && `200 connections: ${r.wide.itemsPerSecond} items/s, p99 ${r.wide.p99Ms} ms, peak RSS ${r.wide.peakRssMb} MB (target <= 200 MB)`,
    o && `overload (1,000 connections, 200 ms upstream, clients give up after 5 s): peak RSS ${o.peakRssMb} MB (target <= 250 MB), ` +
      `${o.alive ? 'no crash' : 'CRASHED'}, answers ${JSON.stringify(o.status)}, ${o.retryAfter} with Retry-After, ` +
      `${o.delivered} items delivered, p99 ${o.p99Ms} ms; ${o.abandonedBatches} batches abandoned (${o.abandonedItems} items), ` +
      `${o.abandonedItemsSentAfterAbort} of those items reached the API after the abort (in flight then; at most ${o.maxInFlight} are), ` +
      `${o.abandonedItemsSentBeforeAbort} before it; ${o.apiCalls} API calls in all`,
    r.heavy && `12,000 distinct ~30 KB calls: ${r.heavy.calls} delivered, peak RSS ${r.heavy.peakRssMb} MB (target < 200 MB)`,
    r.machine && `load average ${r.machine.loadAverage.before.join(' ')} before, ${r.machine.loadAverage.after.join(' ')} after (${r.machine.cores} cores)`,
    r.redis
      ? `two instances sharing Redis, ${r.redis.items} items sent to both at once and again one after the other: ${r.redis.apiCalls} API calls, ${r.redis.duplicates} duplicates`
      : 'two instances sharing Redis: not run (no /usr/bin/redis-server, or not asked for)',
  ]
    .filter((line) => line !== undefined)
    .join('\n')
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const parts = process.argv.slice(2)
  const result = await benchProxy(parts.length ? { parts } : {})
  process.stdout.write(formatBenchProxy(result) + '\n')
  // Only a whole run replaces the recorded figures.
  if (!parts.length) process.stdout.write('written to ' + writeBenchProxy(result) + '\n')
}
