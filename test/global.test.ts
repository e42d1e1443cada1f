import { execSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import type { FlameupError } from '../src/errors'
import { createFlameup } from '../src/index'
import { api, items, record, stubFetch, T0, turns, until, useClock } from './helpers'

const w = window as any

// Paths in variables: snippet.ts is a script, not a module, and each import must run it afresh.
const SNIPPET = '../src/snippet'
const GLOBAL = '../src/global'

/** Runs the inline stub, as the page's first <script> does. */
const runSnippet = async () => {
  vi.resetModules()
  await import(/* @vite-ignore */ SNIPPET)
}

/** Runs the script-tag entry, as <script async src="/flameup.min.js"> does once it has loaded. */
const loadScript = async () => {
  vi.resetModules()
  await import(/* @vite-ignore */ GLOBAL)
}

/** Makes document.currentScript a <script> with the given data-* attributes. */
const currentScript = (attributes: Record<string, string>) => {
  const script = document.createElement('script')
  for (const [name, value] of Object.entries(attributes)) script.setAttribute(name, value)
  Object.defineProperty(document, 'currentScript', { configurable: true, get: () => script })
}

const METHODS = ['close', 'flush', 'identify', 'on', 'optIn', 'optOut', 'pending']

beforeEach(() => {
  useClock()
  delete w.flameup
})

afterEach(() => {
  w.flameup?.close?.()
  delete w.flameup
  delete (document as any).currentScript
})

describe('snippet (inline stub)', () => {
  it('defines window.flameup with init, identify, flush, on, optOut, optIn that record calls', async () => {
    await runSnippet()
    for (const method of ['init', 'identify', 'flush', 'on', 'optOut', 'optIn']) expect(typeof w.flameup[method]).toBe('function')
    expect(() => w.flameup.identify('u_1')).not.toThrow()
  })

  it('is harmless when run twice: the same stub, earlier calls kept', async () => {
    const sent = stubFetch()
    await runSnippet()
    const stub = w.flameup
    stub.init({ proxyUrl: '/flameup' })
    stub.identify('u_1')
    await runSnippet()
    expect(w.flameup).toBe(stub)
    w.flameup.identify('u_2')
    await loadScript()
    await w.flameup.flush()
    expect(items(sent).map((item) => item.userId)).toEqual(['u_1', 'u_2'])
  })
})

describe('script tag (src/global.ts)', () => {
  it('replays the stub calls in order, listeners included, each identify with its original time', async () => {
    const sent = stubFetch()
    await runSnippet()
    const delivered: string[] = []
    w.flameup.init({ proxyUrl: '/flameup' })
    w.flameup.identify('u_1', { email: 'ann@example.com' })
    w.flameup.on('delivered', (event: any) => delivered.push(event.userId))
    vi.setSystemTime(T0 + 5000)
    w.flameup.identify('u_2', { plan: 'pro' })
    w.flameup.flush()
    vi.setSystemTime(T0 + 60_000)
    await loadScript()
    await until(() => delivered.length == 2, 'the replayed calls to be delivered')
    expect(items(sent).map((item) => [item.userId, item.timestamp])).toEqual([
      ['u_1', new Date(T0).toISOString()],
      ['u_2', new Date(T0 + 5000).toISOString()],
    ])
    expect(items(sent)[0].email).toBe('ann@example.com')
    expect(delivered).toEqual(['u_1', 'u_2'])
  })

  it('replays identify with its options (userHash) and its original time, and resolves what the client does', async () => {
    const sent = stubFetch()
    await runSnippet()
    w.flameup.init({ proxyUrl: '/flameup' })
    w.flameup.identify('u_1', { plan: 'pro' }, { userHash: 'ab12' })
    vi.setSystemTime(T0 + 60_000)
    await loadScript()
    await w.flameup.flush()
    expect(items(sent)).toEqual([expect.objectContaining({ userId: 'u_1', userHash: 'ab12', timestamp: new Date(T0).toISOString() })])
    // After load, window.flameup.identify is the client's own: the third argument is the options object.
    expect(await w.flameup.identify('u_2', {}, { userHash: 'cd34' })).toBe('queued')
    await w.flameup.flush()
    expect(items(sent)[1]).toMatchObject({ userId: 'u_2', userHash: 'cd34', timestamp: new Date(T0 + 60_000).toISOString() })
  })

  it('makes window.flameup the object createFlameup returns', async () => {
    await runSnippet()
    const stub = w.flameup
    w.flameup.init({ proxyUrl: '/flameup' })
    await loadScript()
    expect(w.flameup).not.toBe(stub)
    expect(Object.keys(w.flameup).sort()).toEqual(METHODS)
    const direct = createFlameup({ proxyUrl: '/flameup' })
    expect(Object.keys(w.flameup).sort()).toEqual(Object.keys(direct).sort())
    direct.close()
    expect(await w.flameup.pending()).toBe(0)
  })

  it('replays each call exactly once', async () => {
    const sent = stubFetch()
    await runSnippet()
    w.flameup.init({ proxyUrl: '/flameup' })
    w.flameup.identify('u_1')
    await loadScript()
    await w.flameup.flush()
    await w.flameup.flush()
    expect(await w.flameup.pending()).toBe(0)
    expect(items(sent)).toHaveLength(1)
  })

  it('replays optOut in its place: calls before it are cleared, calls after it ignored', async () => {
    const sent = stubFetch()
    await runSnippet()
    w.flameup.init({ proxyUrl: '/flameup' })
    w.flameup.identify('u_1')
    w.flameup.optOut()
    w.flameup.identify('u_2')
    await loadScript()
    await turns()
    expect(await w.flameup.pending()).toBe(0)
    await w.flameup.flush()
    expect(sent).toEqual([])
  })

  it('logs a replayed identify with bad input and goes on with the rest', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const sent = stubFetch()
    await runSnippet()
    w.flameup.init({ proxyUrl: '/flameup' })
    w.flameup.identify('')
    w.flameup.identify('u_1', { email: 'not an email' })
    w.flameup.identify('u_2')
    await expect(loadScript()).resolves.toBeUndefined()
    await until(() => error.mock.calls.length == 2, 'the errors to be logged')
    // A fresh module context has its own FlameupError class: compare by name and code.
    for (const [logged] of error.mock.calls) expect(logged).toMatchObject({ name: 'FlameupError', code: 'invalid_argument' })
    expect(error.mock.calls.map(([logged]) => (logged as FlameupError).field)).toEqual(['userId', 'email'])
    await w.flameup.flush()
    expect(items(sent).map((item) => item.userId)).toEqual(['u_2'])
  })

  it('logs a bad config instead of throwing', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    await runSnippet()
    w.flameup.init({})
    await expect(loadScript()).resolves.toBeUndefined()
    expect(error).toHaveBeenCalledWith(expect.objectContaining({ code: 'invalid_config' }))
  })

  it('waits for init when it loads before the page called it, then replays', async () => {
    const sent = stubFetch()
    await runSnippet()
    w.flameup.identify('u_1')
    await loadScript()
    w.flameup.identify('u_2')
    const flameup = w.flameup.init({ proxyUrl: '/flameup' })
    expect(w.flameup).toBe(flameup)
    expect(Object.keys(w.flameup).sort()).toEqual(METHODS)
    await w.flameup.flush()
    expect(items(sent).map((item) => item.userId)).toEqual(['u_1', 'u_2'])
  })

  describe('data-* attributes', () => {
    it('initialises itself from data-proxy-url', async () => {
      const sent = stubFetch()
      currentScript({ src: '/flameup.min.js', 'data-proxy-url': '/my-proxy' })
      await loadScript()
      expect(Object.keys(w.flameup).sort()).toEqual(METHODS)
      await w.flameup.identify('u_1')
      await w.flameup.flush()
      expect(sent.map((request) => request.url)).toEqual(['/my-proxy'])
    })

    it('initialises itself in direct mode from data-workspace-id, data-api-key and data-api-host', async () => {
      vi.spyOn(console, 'warn').mockImplementation(() => {})
      const sent = stubFetch(api())
      currentScript({ 'data-workspace-id': 'ws_9', 'data-api-key': 'sk_test', 'data-api-host': 'https://eu.example.com' })
      await loadScript()
      const events = record(w.flameup)
      await w.flameup.identify('u_1')
      await w.flameup.flush()
      expect(sent[0].url).toBe('https://eu.example.com/api/v1/workspaces/ws_9/people')
      expect(new Headers(sent[0].init.headers).get('authorization')).toBe('Bearer sk_test')
      expect(events.delivered).toHaveLength(1)
    })

    it('prefers an init call on the stub over data attributes', async () => {
      const sent = stubFetch()
      await runSnippet()
      w.flameup.init({ proxyUrl: '/from-init' })
      w.flameup.identify('u_1')
      currentScript({ 'data-proxy-url': '/from-attribute' })
      await loadScript()
      await w.flameup.flush()
      expect(sent.map((request) => request.url)).toEqual(['/from-init'])
    })
  })
})

describe('ESM build (src/index.ts)', () => {
  it('never reads or writes window.flameup', async () => {
    w.flameup = { sentinel: true }
    const flameup = createFlameup({ proxyUrl: '/flameup' })
    await flameup.pending()
    expect(w.flameup).toEqual({ sentinel: true })
    flameup.close()
  })
})

describe('built dist/flameup.min.js', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const file = (name: string) => join(root, 'dist', name)

  beforeAll(() => {
    // `npm test` builds first; a lone `vitest run` builds here.
    if (!existsSync(file('flameup.min.js')) || !existsSync(file('snippet.min.js')))
      execSync('npx rollup -c --silent', { cwd: root, stdio: 'ignore' })
  }, 120_000)

  /** Evaluates a built script in the page's global scope, as a <script> element would. */
  const run = (name: string) => new Function(readFileSync(file(name), 'utf8'))()

  it('replays the built stub and delivers through the proxy', async () => {
    const sent = stubFetch()
    run('snippet.min.js')
    const delivered: string[] = []
    w.flameup.init({ proxyUrl: '/flameup' })
    w.flameup.on('delivered', (event: any) => delivered.push(event.userId))
    w.flameup.identify('u_1', { email: 'ann@example.com', plan: 'pro' })
    vi.setSystemTime(T0 + 30_000)
    run('flameup.min.js')
    expect(Object.keys(w.flameup).sort()).toEqual(METHODS)
    await w.flameup.flush()
    expect(delivered).toEqual(['u_1'])
    expect(items(sent)).toEqual([
      {
        messageId: expect.any(String),
        userId: 'u_1',
        email: 'ann@example.com',
        traits: { plan: 'pro' },
        timestamp: new Date(T0).toISOString(),
      },
    ])
    expect(sent[0].init.keepalive).toBe(true)
    expect(await w.flameup.pending()).toBe(0)
  })

  it('initialises itself from data attributes', async () => {
    const sent = stubFetch()
    currentScript({ 'data-proxy-url': '/flameup' })
    run('flameup.min.js')
    await w.flameup.identify('u_1')
    await w.flameup.flush()
    expect(sent.map((request) => request.url)).toEqual(['/flameup'])
  })
})
