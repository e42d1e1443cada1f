import { describe, expect, it, vi } from 'vitest'
import { memoryStore, openStore, type Store } from '../src/store'
import { putRecords, stored, turns, useClock } from './helpers'

const quiet = () => {}

const backends: [string, () => Store][] = [
  ["openStore('indexeddb')", () => openStore('indexeddb', quiet)],
  ["openStore('memory')", () => openStore('memory', quiet)],
  ['memoryStore()', () => memoryStore()],
]

describe.each(backends)('%s', (_, open) => {
  describe('get', () => {
    it('answers undefined for a missing key', async () => {
      expect(await open().get('nope')).toBeUndefined()
    })

    it('answers what setMany stored, as structured data', async () => {
      const store = open()
      const value = { messageId: 'm', traits: { nested: [1, 'two', null] }, attempts: 0 }
      await store.setMany([['q1', value]])
      expect(await store.get('q1')).toEqual(value)
    })
  })

  describe('setMany', () => {
    it('stores several entries at once and overwrites existing keys', async () => {
      const store = open()
      await store.setMany([
        ['a', 1],
        ['b', 2],
      ])
      await store.setMany([
        ['b', 3],
        ['c', 4],
      ])
      expect(await store.entries()).toEqual([
        ['a', 1],
        ['b', 3],
        ['c', 4],
      ])
    })

    it('accepts an empty list', async () => {
      const store = open()
      await store.setMany([])
      expect(await store.entries()).toEqual([])
    })

    it('keeps every entry of concurrent writers (one key per call)', async () => {
      const store = open()
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.setMany([['q' + String(i).padStart(2, '0'), i]])))
      expect((await store.entries()).map(([, value]) => value)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    })
  })

  describe('entries', () => {
    it('answers every entry sorted by key, whatever the insertion order', async () => {
      const store = open()
      await store.setMany([
        ['q3', 'c'],
        ['lease', 'l'],
        ['q1', 'a'],
        ['d_u1', 'h'],
        ['q2', 'b'],
      ])
      expect((await store.entries()).map(([key]) => key)).toEqual(['d_u1', 'lease', 'q1', 'q2', 'q3'])
      expect(await store.entries()).toContainEqual(['q2', 'b'])
    })

    it('is empty for a new store', async () => {
      expect(await open().entries()).toEqual([])
    })
  })

  describe('delMany', () => {
    it('removes the given keys only, ignoring missing ones', async () => {
      const store = open()
      await store.setMany([
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ])
      await store.delMany(['a', 'c', 'missing'])
      expect(await store.entries()).toEqual([['b', 2]])
      expect(await store.get('a')).toBeUndefined()
    })

    it('accepts an empty list', async () => {
      const store = open()
      await store.setMany([['a', 1]])
      await store.delMany([])
      expect(await store.entries()).toEqual([['a', 1]])
    })
  })
})

describe("openStore('indexeddb')", () => {
  it("persists in the 'flameup' database, object store 'queue', across store instances", async () => {
    await openStore('indexeddb', quiet).setMany([['q1', { userId: 'u_1' }]])
    expect(await stored()).toEqual([['q1', { userId: 'u_1' }]])
    expect(await openStore('indexeddb', quiet).get('q1')).toEqual({ userId: 'u_1' })
  })

  it('reads entries another writer put in the database', async () => {
    await putRecords([['q9', 'x']])
    expect(await openStore('indexeddb', quiet).entries()).toEqual([['q9', 'x']])
  })

  it('does not open IndexedDB before the first operation', () => {
    const open = vi.fn()
    vi.stubGlobal('indexedDB', { open })
    openStore('indexeddb', quiet)
    expect(open).not.toHaveBeenCalled()
  })
})

describe("openStore('memory')", () => {
  it('never touches IndexedDB', async () => {
    const open = vi.fn()
    vi.stubGlobal('indexedDB', { open })
    const store = openStore('memory', quiet)
    await store.setMany([['q1', 1]])
    expect(await store.entries()).toEqual([['q1', 1]])
    expect(open).not.toHaveBeenCalled()
  })

  it('keeps each store separate', async () => {
    await openStore('memory', quiet).setMany([['q1', 1]])
    expect(await openStore('memory', quiet).entries()).toEqual([])
  })
})

describe('openStore falls back to memory', () => {
  const works = async (store: Store) => {
    await store.setMany([
      ['q2', 'b'],
      ['q1', 'a'],
    ])
    expect(await store.get('q1')).toBe('a')
    expect(await store.entries()).toEqual([
      ['q1', 'a'],
      ['q2', 'b'],
    ])
    await store.delMany(['q1'])
    expect(await store.entries()).toEqual([['q2', 'b']])
  }

  it('when there is no indexedDB global', async () => {
    vi.stubGlobal('indexedDB', undefined)
    const log = vi.fn()
    await works(openStore('indexeddb', log))
    expect(log).toHaveBeenCalled()
  })

  it('when indexedDB.open throws', async () => {
    vi.stubGlobal('indexedDB', {
      open: () => {
        throw new DOMException('denied', 'SecurityError')
      },
    })
    await works(openStore('indexeddb', quiet))
  })

  it('when opening fails asynchronously (private mode)', async () => {
    vi.stubGlobal('indexedDB', {
      open: () => {
        const request: any = {}
        setImmediate(() => {
          request.error = new DOMException('denied', 'InvalidStateError')
          request.onerror?.()
        })
        return request
      },
    })
    await works(openStore('indexeddb', quiet))
  })

  it('when a transaction fails (quota)', async () => {
    vi.stubGlobal('indexedDB', {
      open: () => {
        const request: any = {}
        setImmediate(() => {
          request.result = {
            transaction: () => {
              throw new DOMException('full', 'QuotaExceededError')
            },
          }
          request.onsuccess?.()
        })
        return request
      },
    })
    await works(openStore('indexeddb', quiet))
  })

  it('when opening never answers (blocked), after a timeout', async () => {
    useClock()
    vi.stubGlobal('indexedDB', { open: () => ({}) })
    const store = openStore('indexeddb', quiet)
    let done = false
    const writing = store.setMany([['q1', 'a']]).then(() => (done = true))
    for (let i = 0; i < 12 && !done; i++) {
      await vi.advanceTimersByTimeAsync(5000)
      await turns(20)
    }
    await writing
    expect(await store.entries()).toEqual([['q1', 'a']])
  })
})
