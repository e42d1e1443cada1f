// Contract §4a, storage faults seen through the client: a page that falls back to memory
// mid-session keeps every call it knew; a lost connection is reopened, so calls still persist.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { closeAll, client, items, json, proxy, queued, record, stubFetch, useClock } from './helpers'

beforeEach(() => useClock())
afterEach(closeAll)

describe('IndexedDB failing mid-session', () => {
  it('after a quota error, pending() counts all 5 calls and flush() delivers all 5', async () => {
    let down = true
    const sent = stubFetch((request) => (down ? json({ error: 'down' }, 503) : proxy()(request)))
    const flameup = client()
    const events = record(flameup)
    for (const userId of ['u_1', 'u_2', 'u_3']) await flameup.identify(userId)
    await flameup.flush()
    expect(await queued()).toHaveLength(3)
    vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError')
    })
    for (const userId of ['u_4', 'u_5']) await flameup.identify(userId)
    expect(await flameup.pending()).toBe(5)
    down = false
    await vi.advanceTimersByTimeAsync(60000)
    await flameup.flush()
    expect(events.delivered.map((event) => event.userId).sort()).toEqual(['u_1', 'u_2', 'u_3', 'u_4', 'u_5'])
    expect(new Set(items(sent.slice(1)).map((item) => item.userId)).size).toBe(5)
    expect(await flameup.pending()).toBe(0)
  })

  it('after a lost connection (InvalidStateError, no close event), later calls still persist in IndexedDB', async () => {
    stubFetch(() => json({ error: 'down' }, 503))
    const flameup = client()
    for (const userId of ['u_1', 'u_2']) await flameup.identify(userId)
    const transaction = IDBDatabase.prototype.transaction
    let lost = true
    vi.spyOn(IDBDatabase.prototype, 'transaction').mockImplementation(function (this: IDBDatabase, ...args: any[]) {
      if (lost) {
        lost = false
        throw new DOMException('The database connection is closing.', 'InvalidStateError')
      }
      return (transaction as any).apply(this, args)
    })
    for (const userId of ['u_3', 'u_4']) await flameup.identify(userId)
    // What a reload would find.
    expect((await queued()).map((call) => call.userId)).toEqual(['u_1', 'u_2', 'u_3', 'u_4'])
  })
})
