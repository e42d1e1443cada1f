// Contract §4a, wall-clock jumps (reported against Segment and Mixpanel: a device clock corrected
// by NTP reorders a user's calls, or parks a retry for hours).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { queueKey } from '../src/ids'
import { client, closeAll, elapse, items, json, proxy, queued, stubFetch, T0, turns, useClock } from './helpers'

const HOUR = 36e5

beforeEach(() => useClock())
afterEach(closeAll)

describe('queueKey', () => {
  it('sorts later keys after earlier ones even when the clock moves back', () => {
    vi.setSystemTime(T0 + HOUR)
    const first = queueKey('aaaaaaaa-0000')
    vi.setSystemTime(T0)
    const second = queueKey('00000000-0000')
    expect(second.length).toBe(first.length)
    expect(second > first).toBe(true)
  })
})

describe('a clock that moved back within one page', () => {
  it('lets the later call win the merge', async () => {
    const sent = stubFetch()
    const flameup = client()
    vi.setSystemTime(T0 + HOUR)
    await flameup.identify('u_1', { plan: 'pro' })
    vi.setSystemTime(T0)
    await flameup.identify('u_1', { plan: 'enterprise' })
    await flameup.flush()
    expect(items(sent).map((item) => item.traits.plan)).toEqual(['enterprise'])
  })
})

describe('a retry time set while the clock ran fast', () => {
  it('counts as now + retryMaxDelay once the clock is corrected, and is stored so', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1)
    let down = true
    const sent = stubFetch((request) => (down ? json({ error: 'down' }, 503) : proxy()(request)))
    const flameup = client({ proxyUrl: '/flameup', retryMaxDelay: 60000 })
    // 2 h fast, and a Retry-After-free 503: the backoff is stored as a time 2 h ahead of the real one.
    vi.setSystemTime(T0 + 2 * HOUR)
    await flameup.identify('u_1', { plan: 'pro' })
    await flameup.flush()
    expect(sent).toHaveLength(1)
    vi.setSystemTime(T0)
    down = false
    await flameup.flush()
    const [call] = await queued()
    expect(call.nextAt).toBe(T0 + 60000)
    // Read again later: the bound does not move on with each read.
    await elapse(30000)
    await flameup.pending()
    expect((await queued())[0].nextAt).toBe(T0 + 60000)
    await elapse(30000)
    await turns()
    expect(items(sent).map((item) => item.userId)).toEqual(['u_1', 'u_1'])
    expect(await flameup.pending()).toBe(0)
  })

  it('leaves a retry time within retryMaxDelay as it is', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    stubFetch(() => json({ error: 'down' }, 503))
    const flameup = client({ proxyUrl: '/flameup', retryBaseDelay: 1000, retryMaxDelay: 60000 })
    await flameup.identify('u_1')
    await flameup.flush()
    await flameup.pending()
    expect((await queued())[0].nextAt).toBe(T0 + 500)
  })
})
