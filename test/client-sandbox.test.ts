// Contract §4a: Web Locks that reject (a sandboxed iframe) count as absent: the SDK still delivers
// within flushInterval, in proxy and in direct mode.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { api, client, closeAll, elapse, stubFetch, useClock } from './helpers'

beforeEach(() => {
  useClock()
  Object.defineProperty(navigator, 'locks', {
    configurable: true,
    value: { request: () => Promise.reject(new DOMException('The request was denied.', 'SecurityError')) },
  })
})
afterEach(() => {
  closeAll()
  delete (navigator as any).locks
})

describe('Web Locks rejecting with SecurityError', () => {
  it.each([
    ['proxy', { proxyUrl: '/flameup' }, undefined],
    ['direct', { workspaceId: 'ws_1', apiHost: 'https://gateway.example' }, api()],
  ] as const)('%s mode delivers within flushInterval', async (_, config, reply) => {
    const sent = stubFetch(reply)
    const flameup = client({ ...config, flushInterval: 1000 })
    await flameup.identify('u_1', { plan: 'pro' })
    await elapse(1000, 500)
    expect(sent).toHaveLength(1)
    expect(await flameup.pending()).toBe(0)
  })
})
