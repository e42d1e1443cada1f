// The built handler (dist/proxy.mjs) answers a real batch on Bun, Deno and workerd, each from its
// binary in node_modules, in front of the API stand-in on 127.0.0.1 (issue 11: the Fetch-standard
// handler is the one implementation for every runtime). Run: `npx vitest run --project runtimes`.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, freePort, ROOT } from '../proxy-processes'

const KEY = 'sk_runtime_test_0123456789'
const WORKSPACE = 'ws_runtime'
// identitySecret is set on every runtime: the HMAC check runs on Web Crypto (crypto.subtle), which
// each runtime implements on its own (BoringSSL in Bun and workerd, ring/aws-lc in Deno).
const SECRET = 'runtime-identity-secret'
const hmac = (userId: string) => createHmac('sha256', SECRET).update(userId).digest('hex')
const PROXY = join(ROOT, 'dist/proxy.mjs')
const BUN = join(ROOT, 'node_modules/@oven/bun-linux-x64/bin/bun')
const DENO = join(ROOT, 'node_modules/@deno/linux-x64-glibc/deno')
const WORKERD = join(ROOT, 'node_modules/.bin/workerd')

interface Api {
  url: string
  requests: { messageId?: string; userId?: string; status: number | null }[]
  close(): Promise<void>
}

let api: Api
let dir: string
const children = new Set<ChildProcess>()

beforeAll(async () => {
  await ensureBuilt(['dist/proxy.mjs'])
  dir = mkdtempSync(join(tmpdir(), 'flameup-runtimes-'))
  copyFileSync(PROXY, join(dir, 'proxy.mjs'))
  const { startApi } = await import(pathToFileURL(join(ROOT, 'demo/api.mjs')).href)
  api = await startApi({ apiKey: KEY, workspaceId: WORKSPACE })
}, 120000)

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await api?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** Spawns a runtime; the returned promise rejects with its output if it exits early. */
const run = (command: string, args: string[], env: Record<string, string> = {}) => {
  const child = spawn(command, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let output = ''
  child.stdout!.on('data', (chunk) => (output += chunk))
  child.stderr!.on('data', (chunk) => (output += chunk))
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(command + ' exited with ' + code + ':\n' + output))))
  exited.catch(() => {})
  return { child, exited, output: () => output }
}

/**
 * Posts a batch until the server answers (it may still be starting), then checks the answer: two
 * calls with a valid userHash are delivered, one with a forged userHash (the HMAC of another
 * userId) is 403 and never reaches the API.
 */
const deliversABatch = async (url: string, runtime: { exited: Promise<never>; output: () => string }) => {
  const userOf = (n: string) => new URL(url).port + '-' + n
  const batch = ['a', 'b', 'forged'].map((n) => ({
    messageId: url + '#' + n,
    userId: userOf(n),
    userHash: hmac(n == 'forged' ? userOf('a') : userOf(n)),
    email: n + '@example.com',
    traits: { plan: 'pro' },
  }))
  let answer: Response | undefined
  await expect
    .poll(
      async () => {
        answer = await Promise.race([
          runtime.exited,
          fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ batch }) }).catch(() => undefined),
        ])
        return answer?.status
      },
      { timeout: 30000, interval: 100 },
    )
    .toBe(200)
  const body = await answer!.json()
  expect(body.results.map((r: { messageId: string; status: number }) => [r.messageId, r.status])).toEqual(
    batch.map((item) => [item.messageId, item.messageId.endsWith('#forged') ? 403 : 201]),
  )
  // Reached the API once per verified call, with the key; the forged and the invalid item were never sent.
  expect(api.requests.some((entry) => entry.userId == userOf('forged'))).toBe(false)
  expect(api.requests.filter((entry) => entry.messageId?.startsWith(url + '#')).map((entry) => entry.status)).toEqual([201, 201])
  const invalid = await fetch(url, { method: 'POST', body: JSON.stringify({ batch: [{ messageId: url + '#x', userId: '' }] }) })
  expect((await invalid.json()).results[0].status).toBe(400)
  expect(runtime.output()).not.toContain(KEY)
}

const handlerScript = (serve: string) => `
import { createProxyHandler } from './proxy.mjs'
const handler = createProxyHandler({ apiKey: ${JSON.stringify(KEY)}, workspaceId: ${JSON.stringify(WORKSPACE)}, apiHost: process.env.API_HOST, identitySecret: ${JSON.stringify(SECRET)} })
${serve}
`

describe('the built handler on other runtimes', () => {
  it.skipIf(!existsSync(BUN))('answers a batch on Bun (Bun.serve), userHash checked', async () => {
    const port = await freePort()
    writeFileSync(join(dir, 'bun.mjs'), handlerScript(`Bun.serve({ hostname: '127.0.0.1', port: ${port}, fetch: handler })`))
    const bun = run(BUN, ['bun.mjs'], { API_HOST: api.url })
    await deliversABatch(`http://127.0.0.1:${port}/flameup`, bun)
  })

  it.skipIf(!existsSync(DENO))('answers a batch on Deno (Deno.serve, network limited to 127.0.0.1), userHash checked', async () => {
    const port = await freePort()
    const apiPort = new URL(api.url).port
    writeFileSync(join(dir, 'deno.mjs'), handlerScript(`Deno.serve({ hostname: '127.0.0.1', port: ${port}, onListen() {} }, handler)`))
    const deno = run(DENO, ['run', `--allow-net=127.0.0.1:${port},127.0.0.1:${apiPort}`, '--allow-env=API_HOST', '--no-prompt', 'deno.mjs'], {
      API_HOST: api.url,
      DENO_NO_UPDATE_CHECK: '1',
      DENO_DIR: join(dir, '.deno'),
    })
    await deliversABatch(`http://127.0.0.1:${port}/flameup`, deno)
  })

  it.skipIf(!existsSync(WORKERD))('answers a batch on workerd (the Cloudflare Workers runtime), without Node compatibility, userHash checked', async () => {
    const port = await freePort()
    writeFileSync(
      join(dir, 'worker.mjs'),
      `import { createProxyHandler } from './proxy.mjs'
let handler
export default {
  fetch(request, env) {
    handler ??= createProxyHandler({ apiKey: env.FLAMEUP_API_KEY, workspaceId: env.FLAMEUP_WORKSPACE_ID, apiHost: env.API_HOST, identitySecret: env.FLAMEUP_IDENTITY_SECRET })
    return handler(request)
  },
}
`,
    )
    // The default outbound network refuses private and local addresses: allow the loopback API.
    writeFileSync(
      join(dir, 'config.capnp'),
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "worker.mjs"), (name = "proxy.mjs", esModule = embed "proxy.mjs")],
  compatibilityDate = "2025-01-01",
  globalOutbound = "loopback",
  bindings = [
    (name = "FLAMEUP_API_KEY", text = ${JSON.stringify(KEY)}),
    (name = "FLAMEUP_WORKSPACE_ID", text = ${JSON.stringify(WORKSPACE)}),
    (name = "API_HOST", text = ${JSON.stringify(api.url)}),
    (name = "FLAMEUP_IDENTITY_SECRET", text = ${JSON.stringify(SECRET)}),
  ],
);
`,
    )
    const workerd = run(WORKERD, ['serve', 'config.capnp'])
    await deliversABatch(`http://127.0.0.1:${port}/flameup`, workerd)
  })
})
