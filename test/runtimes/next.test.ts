// The documented Next.js App Router route (docs/proxy.md) through `next build` and `next start`:
// the build runs WITHOUT the key in its environment (issue 11: creating the handler when the
// module loads failed the build with "Failed to collect page data for /flameup"), and the
// started server delivers a batch to the API stand-in on 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { cleanEnv, ensureBuilt, freePort, ROOT } from '../proxy-processes'

const APP = join(ROOT, 'test/runtimes/next-app')
const NEXT = join(ROOT, 'node_modules/next/dist/bin/next')
const KEY = 'sk_next_test_0123456789'
const WORKSPACE = 'ws_next'

let api: { url: string; requests: { messageId?: string; status: number | null }[]; close(): Promise<void> }
const children = new Set<ChildProcess>()

const next = (args: string[], env: Record<string, string>) => {
  const child = spawn(process.execPath, [NEXT, ...args], { cwd: APP, env: { ...cleanEnv(), NEXT_TELEMETRY_DISABLED: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let output = ''
  child.stdout!.on('data', (chunk) => (output += chunk))
  child.stderr!.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { child, exited, output: () => output }
}

beforeAll(async () => {
  await ensureBuilt(['dist/proxy.mjs'])
  const { startApi } = await import(pathToFileURL(join(ROOT, 'demo/api.mjs')).href)
  api = await startApi({ apiKey: KEY, workspaceId: WORKSPACE })
}, 120000)

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await api?.close()
  rmSync(join(APP, '.next'), { recursive: true, force: true })
})

it('builds without the key, then delivers a batch from `next start`', async () => {
  rmSync(join(APP, '.next'), { recursive: true, force: true })
  const build = next(['build'], {})
  const code = await build.exited
  expect(code, build.output()).toBe(0)

  const port = await freePort()
  const server = next(['start', '-H', '127.0.0.1', '-p', String(port)], {
    FLAMEUP_API_KEY: KEY,
    FLAMEUP_WORKSPACE_ID: WORKSPACE,
    FLAMEUP_API_HOST: api.url,
  })
  const batch = [{ messageId: 'next-1', userId: 'next-user-1', traits: { plan: 'pro' } }]
  let answer: { status: number; body?: { results: { status: number }[] } } | undefined
  await expect
    .poll(
      async () => {
        if (server.child.exitCode !== null) throw new Error(server.output())
        const response = await fetch(`http://127.0.0.1:${port}/flameup`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ batch }) }).catch(() => undefined)
        answer = response && { status: response.status, body: await response.json().catch(() => undefined) }
        return answer?.status
      },
      { timeout: 60000, interval: 200 },
    )
    .toBe(200)
  expect(answer!.body!.results.map((result) => result.status)).toEqual([201])
  expect(api.requests.filter((entry) => entry.messageId == 'next-1')).toHaveLength(1)
}, 180000)
