// Load run for the proxy: the built flameup-proxy CLI as a child process in front of the API
// stand-in, and many concurrent clients posting batches the way the browser SDK does (text/plain,
// unique messageIds, some batches sent twice as after an unacknowledged page unload).
// `node test/bench-proxy.mjs` prints the figures; `benchProxy()` returns them.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { startApi } from '../demo/api.mjs'

const CLI = fileURLToPath(new URL('../dist/proxy-cli.mjs', import.meta.url))
const API_KEY = 'fl_bench_key_0123456789'
const WORKSPACE_ID = 'ws_bench'

const startCli = (apiHost) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI], {
      env: { ...process.env, FLAMEUP_API_KEY: API_KEY, FLAMEUP_WORKSPACE_ID: WORKSPACE_ID, FLAMEUP_API_HOST: apiHost, FLAMEUP_RATE_LIMIT: '0', HOST: '127.0.0.1', PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      const match = /listening on (http:\/\/\S+)/.exec(out)
      if (match) resolve({ child, url: match[1] })
    })
    child.once('exit', (code) => reject(new Error('flameup-proxy exited with ' + code)))
  })

/** Resident memory of a process in MB, from /proc (Linux); `VmHWM` is the kernel's own peak. */
const memoryOf = (pid, field) => {
  try {
    const match = new RegExp(field + ':\\s+(\\d+) kB').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) / 1024 : undefined
  } catch {
    return undefined
  }
}

/** CPU time a process has used, in ms, from /proc (Linux; USER_HZ is 100 on every mainstream kernel). */
const cpuMsOf = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]

const round = (value, digits = 1) => (value === undefined ? undefined : Number(value.toFixed(digits)))

/**
 * Fires `clients` concurrent loops of `batchesPerClient` sequential batches of `itemsPerBatch`
 * calls; every `replayEvery`-th batch is sent a second time. Returns throughput, batch latency
 * percentiles, the proxy's peak memory and how many calls the API received.
 */
export async function benchProxy({ clients = 50, batchesPerClient = 20, itemsPerBatch = 25, replayEvery = 10 } = {}) {
  if (!existsSync(CLI)) throw new Error('dist/proxy-cli.mjs is missing: run `npm run build` first')
  const api = await startApi({ apiKey: API_KEY, workspaceId: WORKSPACE_ID })
  const { child, url } = await startCli(api.url)
  const idleRss = memoryOf(child.pid, 'VmRSS')
  let sampledPeak = idleRss || 0
  const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, memoryOf(child.pid, 'VmRSS') || 0)), 25)

  const latencies = []
  let failures = 0
  let replayedItems = 0
  const send = async (batch) => {
    const started = performance.now()
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
    })
    const body = await response.json()
    latencies.push(performance.now() - started)
    const results = response.status == 200 ? body.results : []
    failures += batch.length - results.filter((result) => result.status >= 200 && result.status < 300).length
  }
  const batchOf = (client, index) =>
    Array.from({ length: itemsPerBatch }, (_, n) => ({
      messageId: crypto.randomUUID(),
      userId: `c${client}-b${index}-i${n}`,
      email: `c${client}.${index}.${n}@example.com`,
      traits: { first_name: 'Bench', plan: n % 2 ? 'pro' : 'free', seats: n },
      timestamp: new Date().toISOString(),
    }))

  // One batch first, so connection setup and JIT warm-up stay out of the figures.
  await send(batchOf('warm', 0))
  latencies.length = 0
  const cpuBefore = cpuMsOf(child.pid)
  const started = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let index = 0; index < batchesPerClient; index++) {
        const batch = batchOf(client, index)
        await send(batch)
        if (replayEvery && index % replayEvery == replayEvery - 1) {
          replayedItems += batch.length
          await send(batch)
        }
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  const peakRss = memoryOf(child.pid, 'VmHWM') ?? sampledPeak
  const cpuMs = cpuMsOf(child.pid) - cpuBefore

  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
  const items = clients * batchesPerClient * itemsPerBatch
  const apiCalls = api.requests.length - itemsPerBatch
  await api.close()

  latencies.sort((a, b) => a - b)
  return {
    clients,
    batches: latencies.length,
    items,
    replayedItems,
    seconds: round(seconds, 2),
    itemsPerSecond: Math.round((items + replayedItems) / seconds),
    p50Ms: round(percentile(latencies, 0.5)),
    p99Ms: round(percentile(latencies, 0.99)),
    proxyCpuMsPerItem: round(cpuMs / (items + replayedItems), 3),
    idleRssMb: round(idleRss),
    peakRssMb: round(peakRss),
    apiCalls,
    duplicatesAtApi: apiCalls - items,
    failures,
  }
}

export const formatBenchProxy = (r) =>
  [
    `proxy load: ${r.clients} clients, ${r.batches} batches, ${r.items} items + ${r.replayedItems} replayed, in ${r.seconds} s`,
    `  throughput  ${r.itemsPerSecond} items/s through flameup-proxy (CLI child) to the API stand-in`,
    `  latency     p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms per batch request`,
    `  proxy CPU   ${r.proxyCpuMsPerItem} ms per item (user + system)`,
    `  memory      proxy peak RSS ${r.peakRssMb} MB (${r.idleRssMb} MB idle)`,
    `  API calls   ${r.apiCalls} for ${r.items} items: ${r.duplicatesAtApi} duplicates, ${r.failures} failed items`,
  ].join('\n')

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchProxy()
  process.stdout.write(formatBenchProxy(result) + '\n')
  if (result.failures || result.duplicatesAtApi) process.exitCode = 1
}
