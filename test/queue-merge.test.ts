// Contract §4a: merging never produces a call over 32 KB of JSON (reported against PostHog and
// RudderStack: one merged item over the server's limit, every call in it dropped).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { groupByUser, type Entry, type QueuedCall } from '../src/queue'
import { MAX_CALL_BYTES } from '../src/validate'
import { bytes, client, closeAll, items, proxy, record, stubFetch, useClock } from './helpers'

let n = 0
const entry = (userId: string, traits: Record<string, unknown>, fields: Partial<QueuedCall> = {}): Entry => [
  'q' + String(++n).padStart(4, '0'),
  { messageId: 'm' + n, userId, traits, timestamp: '2030-01-01T00:00:00.000Z', attempts: 0, nextAt: 0, hash: n, ...fields },
]

/** The call's JSON as identify() and the proxy measure it. */
const size = ({ userId, email, traits }: QueuedCall) => bytes(JSON.stringify({ userId, email, traits }))

describe('groupByUser: the 32 KB limit', () => {
  it('merges small calls of one user into one group, later values winning', () => {
    const groups = groupByUser([entry('u', { a: 1, b: 1 }), entry('u', { b: 2 })])
    expect(groups).toHaveLength(1)
    expect(groups[0].traits).toEqual({ a: 1, b: 2 })
  })

  it('does not merge two 20 KB calls: two groups, each under 32 KB, the later one waiting for the earlier', () => {
    const first = entry('m_1', { notes_a: 'a'.repeat(20000) })
    const second = entry('m_1', { notes_b: 'b'.repeat(20000) })
    const groups = groupByUser([first, second])
    expect(groups.map((group) => group._entries)).toEqual([[first], [second]])
    expect(groups.map((group) => Object.keys(group.traits))).toEqual([['notes_a'], ['notes_b']])
    expect(groups.map((group) => group.nextAt)).toEqual([0, Infinity])
    for (const group of groups) expect(size(group)).toBeLessThanOrEqual(MAX_CALL_BYTES)
  })

  it('counts UTF-8 bytes, not characters', () => {
    // 6,000 characters of 3 bytes each: 18 KB per call, 36 KB merged, though only 12,000 characters.
    const groups = groupByUser([entry('u', { a: '€'.repeat(6000) }), entry('u', { b: '€'.repeat(6000) })])
    expect(groups).toHaveLength(2)
  })

  it("goes on merging into the user's newest group; each user's groups stay in call order", () => {
    const calls = [
      entry('u', { a: 'a'.repeat(20000) }),
      entry('v', { plan: 'pro' }),
      entry('u', { b: 'b'.repeat(20000) }),
      entry('u', { c: 1 }),
      entry('v', { seats: 2 }),
    ]
    const groups = groupByUser(calls)
    const of = (userId: string) => groups.filter((group) => group.userId == userId).map((group) => Object.keys(group.traits).join())
    expect(of('u')).toEqual(['a', 'b,c'])
    expect(of('v')).toEqual(['plan,seats'])
    for (const group of groups) expect(size(group)).toBeLessThanOrEqual(MAX_CALL_BYTES)
  })

  it('never produces a group over 32 KB, whatever the mix of sizes', () => {
    const random = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const next = random(7)
    const calls = Array.from({ length: 60 }, (_, i) => entry('u' + (i % 3), { ['k' + Math.floor(next() * 8)]: 'x'.repeat(Math.floor(next() * 15000)) }))
    const groups = groupByUser(calls)
    expect(groups.flatMap((group) => group._entries)).toHaveLength(60)
    for (const group of groups) expect(size(group)).toBeLessThanOrEqual(MAX_CALL_BYTES)
  })
})

describe('identify: calls that would merge over 32 KB', () => {
  beforeEach(() => useClock())
  afterEach(closeAll)

  it('sends both 20 KB calls of one user as separate items, in call order, and delivers both', async () => {
    // The real proxy refuses an item over 32 KB with 400: so does this one.
    const sent = stubFetch(proxy((item) => (bytes(JSON.stringify({ userId: item.userId, email: item.email, traits: item.traits })) > MAX_CALL_BYTES ? 400 : 201)))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('m_1', { notes_a: 'a'.repeat(20000) })
    await flameup.identify('m_1', { notes_b: 'b'.repeat(20000) })
    await flameup.flush()
    expect(items(sent).map((item) => Object.keys(item.traits))).toEqual([['notes_a'], ['notes_b']])
    expect(events.dropped).toEqual([])
    expect(events.delivered).toHaveLength(2)
    expect(await flameup.pending()).toBe(0)
  })

  it('keeps the later part behind the earlier one while that one waits on backoff', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    let fail = true
    const sent = stubFetch((request) => (fail ? new Response('', { status: 503 }) : proxy()(request)))
    const flameup = client()
    await flameup.identify('m_1', { notes_a: 'a'.repeat(20000), plan: 'free' })
    await flameup.identify('m_1', { notes_b: 'b'.repeat(20000), plan: 'pro' })
    await flameup.flush()
    expect(items(sent).map((item) => item.traits.plan)).toEqual(['free'])
    fail = false
    await vi.advanceTimersByTimeAsync(500)
    await flameup.flush()
    expect(items(sent).map((item) => item.traits.plan)).toEqual(['free', 'free', 'pro'])
  })
})
