import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { resolveConfig } from '../src/config'
import { FlameupError } from '../src/errors'
import { createFlameup, type FlameupConfig } from '../src/index'
import { api, client, closeAll, stubFetch, useClock } from './helpers'

afterEach(closeAll)

let warn: ReturnType<typeof vi.spyOn>
beforeEach(() => {
  warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
})

/** What resolveConfig threw for `config`. */
const rejection = (config: unknown) => {
  try {
    resolveConfig(config as FlameupConfig)
  } catch (error) {
    expect(error).toBeInstanceOf(FlameupError)
    expect(error).toMatchObject({ name: 'FlameupError', code: 'invalid_config' })
    return error as FlameupError
  }
  throw new Error('expected resolveConfig to throw')
}

describe('resolveConfig: defaults', () => {
  it('applies the contract defaults', () => {
    expect(resolveConfig({ proxyUrl: '/flameup' })).toMatchObject({
      proxyUrl: '/flameup',
      batchSize: 50,
      flushInterval: 1000,
      retryBaseDelay: 1000,
      retryMaxDelay: 60000,
      maxAttempts: 10,
      maxQueueSize: 1000,
      storage: 'indexeddb',
    })
  })

  it('keeps the values given', () => {
    const config = {
      proxyUrl: 'https://example.com/flameup',
      batchSize: 5,
      flushInterval: 0,
      retryBaseDelay: 10,
      retryMaxDelay: 20,
      maxAttempts: 2,
      maxQueueSize: 3,
      storage: 'memory',
      debug: true,
    } as const
    expect(resolveConfig(config)).toMatchObject(config)
  })

  it('sends direct-mode calls to https://api.flameup.ai by default', async () => {
    useClock()
    const sent = stubFetch(api())
    const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_test' })
    await flameup.identify('u_1')
    await flameup.flush()
    expect(sent.map((request) => request.url)).toEqual(['https://api.flameup.ai/api/v1/workspaces/ws_1/people'])
  })

  it('joins a custom apiHost with a trailing slash without doubling it', async () => {
    useClock()
    const sent = stubFetch(api())
    const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_test', apiHost: 'https://eu.example.com/' })
    await flameup.identify('u_1')
    await flameup.flush()
    expect(sent[0].url).toBe('https://eu.example.com/api/v1/workspaces/ws_1/people')
  })
})

describe('resolveConfig: exactly one transport', () => {
  it('rejects a config with no transport', () => {
    expect(['proxyUrl', 'workspaceId']).toContain(rejection({}).field)
  })

  it.each([
    ['workspaceId', { workspaceId: 'ws_1' }],
    ['apiKey', { apiKey: 'sk_test' }],
    ['apiHost', { apiHost: 'https://eu.example.com' }],
    ['workspaceId and apiKey', { workspaceId: 'ws_1', apiKey: 'sk_test' }],
  ])('rejects proxyUrl together with %s', (_, direct) => {
    const error = rejection({ proxyUrl: '/flameup', ...direct })
    expect(['proxyUrl', ...Object.keys(direct)]).toContain(error.field)
  })

  it('rejects an empty or non-string proxyUrl', () => {
    expect(rejection({ proxyUrl: '' }).field).toBe('proxyUrl')
    expect(rejection({ proxyUrl: 42 }).field).toBe('proxyUrl')
  })

  it('rejects direct mode on the default host without apiKey', () => {
    expect(rejection({ workspaceId: 'ws_1' }).field).toBe('apiKey')
  })

  it('rejects an empty workspaceId', () => {
    expect(rejection({ workspaceId: '', apiKey: 'sk_test' }).field).toBe('workspaceId')
  })

  it('rejects an apiKey without workspaceId', () => {
    expect(['workspaceId', 'proxyUrl']).toContain(rejection({ apiKey: 'sk_test' }).field)
  })

  it.each([null, undefined, 'proxy', 42])('rejects %j as a config', (config) => {
    rejection(config)
  })

  it('is what createFlameup throws', () => {
    expect(() => createFlameup({} as FlameupConfig)).toThrow(FlameupError)
    // @ts-expect-error both transports: refused by the type too (test/types.test-d.ts)
    expect(() => createFlameup({ proxyUrl: '/a', workspaceId: 'ws_1' })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })

  it('accepts a custom apiHost without apiKey and sends no Authorization header', async () => {
    useClock()
    const sent = stubFetch(api())
    const flameup = client({ workspaceId: 'ws_1', apiHost: 'https://flameup.internal' })
    await flameup.identify('u_1')
    await flameup.flush()
    expect(sent).toHaveLength(1)
    expect(new Headers(sent[0].init.headers).has('authorization')).toBe(false)
    expect(warn).not.toHaveBeenCalled()
  })
})

describe('resolveConfig: numbers', () => {
  const keys = ['batchSize', 'flushInterval', 'retryBaseDelay', 'retryMaxDelay', 'maxAttempts', 'maxQueueSize'] as const

  // null and undefined mean "use the default", as for any optional key.
  it.each(keys.flatMap((key) => [-1, NaN, Infinity, '10', 1.5].map((value) => [key, value] as const)))(
    'rejects %s = %j, naming the key',
    (key, value) => {
      expect(rejection({ proxyUrl: '/flameup', [key]: value }).field).toBe(key)
    },
  )

  it.each(['batchSize', 'maxAttempts', 'maxQueueSize'] as const)('rejects %s = 0', (key) => {
    expect(rejection({ proxyUrl: '/flameup', [key]: 0 }).field).toBe(key)
  })

  it('rejects an unknown storage', () => {
    expect(rejection({ proxyUrl: '/flameup', storage: 'localStorage' }).field).toBe('storage')
  })
})

describe('resolveConfig: apiKey warning', () => {
  it('warns exactly once that the key is public', () => {
    resolveConfig({ workspaceId: 'ws_1', apiKey: 'sk_test' })
    expect(warn).toHaveBeenCalledTimes(1)
  })

  it('warns once per client, not per call', async () => {
    useClock()
    stubFetch(api())
    const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_test' })
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    await flameup.flush()
    expect(warn).toHaveBeenCalledTimes(1)
  })

  it('does not warn in proxy mode', () => {
    resolveConfig({ proxyUrl: '/flameup' })
    expect(warn).not.toHaveBeenCalled()
  })
})

describe('debug', () => {
  it('logs to the console only when enabled', async () => {
    useClock()
    stubFetch()
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    const quiet = client({ proxyUrl: '/flameup' })
    await quiet.identify('u_1')
    await quiet.flush()
    expect(log).not.toHaveBeenCalled()
    const loud = client({ proxyUrl: '/flameup', debug: true })
    await loud.identify('u_2')
    await loud.flush()
    expect(log).toHaveBeenCalled()
  })
})
