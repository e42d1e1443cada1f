import { describe, expect, it, vi } from 'vitest'
import { openStore, type Store } from '../src/store'
import { putRecords, stored, turns, until, useClock } from './helpers'

const quiet = () => {}

/** One stored value, read through all(). */
const valueOf = async (store: Store, key: string) => new Map(await store._all()).get(key)

const backends: [string, () => Store][] = [
  ["openStore('indexeddb')", () => openStore('indexeddb', quiet)],
  ["openStore('memory')", () => openStore('memory', quiet)],
]

describe.each(backends)('%s', (_, open) => {
  describe('all, one key', () => {
    it('answers undefined for a missing key', async () => {
      expect(await valueOf(open(), 'nope')).toBeUndefined()
    })

    it('answers what write stored, as structured data', async () => {
      const store = open()
      const value = { messageId: 'm', traits: { nested: [1, 'two', null] }, attempts: 0 }
      await store._write([['q1', value]])
      expect(await valueOf(store, 'q1')).toEqual(value)
    })
  })

  describe('write: puts', () => {
    it('stores several entries at once and overwrites existing keys', async () => {
      const store = open()
      await store._write([
        ['a', 1],
        ['b', 2],
      ])
      await store._write([
        ['b', 3],
        ['c', 4],
      ])
      expect(await store._all()).toEqual([
        ['a', 1],
        ['b', 3],
        ['c', 4],
      ])
    })

    it('accepts an empty list', async () => {
      const store = open()
      await store._write([])
      expect(await store._all()).toEqual([])
    })

    it('keeps every entry of concurrent writers (one key per call)', async () => {
      const store = open()
      await Promise.all(Array.from({ length: 20 }, (_, i) => store._write([['q' + String(i).padStart(2, '0'), i]])))
      expect((await store._all()).map(([, value]) => value)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    })
  })

  describe('all', () => {
    it('answers every entry sorted by key, whatever the insertion order', async () => {
      const store = open()
      await store._write([
        ['q3', 'c'],
        ['lease', 'l'],
        ['q1', 'a'],
        ['d_u1', 'h'],
        ['q2', 'b'],
      ])
      expect((await store._all()).map(([key]) => key)).toEqual(['d_u1', 'lease', 'q1', 'q2', 'q3'])
      expect(await store._all()).toContainEqual(['q2', 'b'])
    })

    it('is empty for a new store', async () => {
      expect(await open()._all()).toEqual([])
    })
  })

  describe('write: deletes', () => {
    it('removes the given keys only, ignoring missing ones', async () => {
      const store = open()
      await store._write([
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ])
      await store._write(['a', 'c', 'missing'])
      expect(await store._all()).toEqual([['b', 2]])
      expect(await valueOf(store, 'a')).toBeUndefined()
    })

    it('accepts an empty list', async () => {
      const store = open()
      await store._write([['a', 1]])
      await store._write([])
      expect(await store._all()).toEqual([['a', 1]])
    })

    it('puts and deletes in one call', async () => {
      const store = open()
      await store._write([
        ['a', 1],
        ['b', 2],
      ])
      await store._write([['c', 3], 'a'])
      expect(await store._all()).toEqual([
        ['b', 2],
        ['c', 3],
      ])
    })

    it('applies the changes in list order', async () => {
      const store = open()
      await store._write([['a', 1], 'a', ['b', 2], 'b', ['b', 3]])
      expect(await store._all()).toEqual([['b', 3]])
    })
  })

  describe('update', () => {
    it('passes undefined for a missing key and stores what the change answers', async () => {
      const store = open()
      const change = vi.fn(() => 'taken')
      expect(await store._update('lease', change)).toBe('taken')
      expect(change).toHaveBeenCalledWith(undefined)
      expect(await valueOf(store, 'lease')).toBe('taken')
    })

    it('passes the stored value to the change', async () => {
      const store = open()
      await store._write([['n', 1]])
      expect(await store._update<number>('n', (n) => n! + 1)).toBe(2)
      expect(await store._all()).toEqual([['n', 2]])
    })

    it('applies concurrent updates one after another, never losing one', async () => {
      const store = open()
      await Promise.all(Array.from({ length: 10 }, () => store._update<number>('n', (n = 0) => n + 1)))
      expect(await valueOf(store, 'n')).toBe(10)
    })
  })
})

describe("openStore('indexeddb')", () => {
  it("persists in the 'flameup' database, object store 'queue', across store instances", async () => {
    await openStore('indexeddb', quiet)._write([['q1', { userId: 'u_1' }]])
    expect(await stored()).toEqual([['q1', { userId: 'u_1' }]])
    expect(await valueOf(openStore('indexeddb', quiet), 'q1')).toEqual({ userId: 'u_1' })
  })

  it('reads entries another writer put in the database', async () => {
    await putRecords([['q9', 'x']])
    expect(await openStore('indexeddb', quiet)._all()).toEqual([['q9', 'x']])
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
    await store._write([['q1', 1]])
    expect(await store._all()).toEqual([['q1', 1]])
    expect(open).not.toHaveBeenCalled()
  })

  it('keeps each store separate', async () => {
    await openStore('memory', quiet)._write([['q1', 1]])
    expect(await openStore('memory', quiet)._all()).toEqual([])
  })
})

describe('openStore falls back to memory', () => {
  const works = async (store: Store) => {
    await store._write([
      ['q2', 'b'],
      ['q1', 'a'],
    ])
    expect(await valueOf(store, 'q1')).toBe('a')
    expect(await store._all()).toEqual([
      ['q1', 'a'],
      ['q2', 'b'],
    ])
    await store._write(['q1'])
    expect(await store._all()).toEqual([['q2', 'b']])
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
    const writing = store._write([['q1', 'a']]).then(() => (done = true))
    for (let i = 0; i < 12 && !done; i++) {
      await vi.advanceTimersByTimeAsync(5000)
      await turns(20)
    }
    await writing
    expect(await store._all()).toEqual([['q1', 'a']])
  })
})

// Contract §4a, storage faults: the failures users of Dexie, Workbox and PostHog reported.
describe('openStore in the field', () => {
  const quota = () =>
    vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError')
    })

  it('keeps every entry IndexedDB held when a quota error moves it to memory mid-session', async () => {
    const log = vi.fn()
    const store = openStore('indexeddb', log)
    await store._write([
      ['q1', 'a'],
      ['q2', 'b'],
    ])
    expect(await store._all()).toEqual([
      ['q1', 'a'],
      ['q2', 'b'],
    ])
    await store._write(['q1'])
    quota()
    await store._write([['q3', 'c']])
    expect(log).toHaveBeenCalledWith('IndexedDB failed', expect.objectContaining({ name: 'QuotaExceededError' }))
    expect(await store._all()).toEqual([
      ['q2', 'b'],
      ['q3', 'c'],
    ])
  })

  it('keeps entries written since the last read too', async () => {
    const store = openStore('indexeddb', quiet)
    await store._write([['q1', 'a']])
    quota()
    await store._write([['q2', 'b']])
    expect(await store._all()).toEqual([
      ['q1', 'a'],
      ['q2', 'b'],
    ])
  })

  /** Makes every connection open so far throw InvalidStateError on transaction(), as WebKit's lost ones do; fresh ones work. */
  const loseConnections = () => {
    const dead = new WeakSet<IDBDatabase>()
    const transaction = IDBDatabase.prototype.transaction
    const spy = vi.spyOn(IDBDatabase.prototype, 'transaction').mockImplementation(function (this: IDBDatabase, ...args: any[]) {
      if (dead.has(this)) throw new DOMException('The database connection is closing.', 'InvalidStateError')
      return (transaction as any).apply(this, args)
    })
    const open = indexedDB.open.bind(indexedDB)
    const opened: IDBDatabase[] = []
    vi.spyOn(indexedDB, 'open').mockImplementation((...args: [string, number?]) => {
      const request = open(...args)
      request.addEventListener('success', () => opened.push(request.result))
      return request
    })
    return { kill: () => opened.forEach((db) => dead.add(db)), opened, spy }
  }

  it('reopens a lost connection (no close event) once, and goes on in IndexedDB', async () => {
    const connections = loseConnections()
    const log = vi.fn()
    const store = openStore('indexeddb', log)
    await store._write([['q1', 'a']])
    expect(connections.opened).toHaveLength(1)
    connections.kill()
    await store._write([['q2', 'b']])
    expect(connections.opened).toHaveLength(2)
    expect(log).not.toHaveBeenCalled()
    // Persisted: a new page (a new store) reads both from IndexedDB.
    expect(await stored()).toEqual([
      ['q1', 'a'],
      ['q2', 'b'],
    ])
  })

  it('falls back to memory, keeping what it knew, when the fresh connection fails too', async () => {
    const store = openStore('indexeddb', quiet)
    await store._write([['q1', 'a']])
    vi.spyOn(IDBDatabase.prototype, 'transaction').mockImplementation(() => {
      throw new DOMException('The database connection is closing.', 'InvalidStateError')
    })
    const open = vi.spyOn(indexedDB, 'open')
    await store._write([['q2', 'b']])
    expect(open).toHaveBeenCalledTimes(1)
    expect(await store._all()).toEqual([
      ['q1', 'a'],
      ['q2', 'b'],
    ])
  })

  it('closes its connection on versionchange: another tab deletes the database unblocked, and it goes on in a new one', async () => {
    const store = openStore('indexeddb', quiet)
    await store._write([['q1', 'a']])
    const outcome: string[] = []
    const request = indexedDB.deleteDatabase('flameup')
    request.onblocked = () => outcome.push('blocked')
    request.onsuccess = () => outcome.push('deleted')
    await until(() => outcome.length > 0, 'the delete')
    expect(outcome).toEqual(['deleted'])
    await store._write([['q2', 'b']])
    expect(await stored()).toEqual([['q2', 'b']])
  })

  it('lets another tab upgrade the database, and reads on in the new version', async () => {
    const store = openStore('indexeddb', quiet)
    await store._write([['q1', 'a']])
    const outcome: string[] = []
    const request = indexedDB.open('flameup', 2)
    request.onblocked = () => outcome.push('blocked')
    request.onsuccess = () => {
      outcome.push('upgraded')
      request.result.close()
    }
    await until(() => outcome.length > 0, 'the upgrade')
    expect(outcome).toEqual(['upgraded'])
    expect(await store._all()).toEqual([['q1', 'a']])
  })

  it('does not let a read answering after the fallback replace the memory', async () => {
    useClock()
    let answer: (() => void) | undefined
    const open = indexedDB.open.bind(indexedDB)
    // The first open answers only after the 10 s timeout; later ones are never asked for (memory).
    vi.spyOn(indexedDB, 'open').mockImplementation((...args: [string, number?]) => {
      const request = open(...args)
      const proxy: any = {}
      Object.defineProperty(proxy, 'result', { get: () => request.result })
      request.onupgradeneeded = () => proxy.onupgradeneeded?.()
      request.onsuccess = () => (answer = () => proxy.onsuccess?.())
      return proxy
    })
    const store = openStore('indexeddb', quiet)
    const reading = store._all()
    await until(() => !!answer, 'the open')
    await vi.advanceTimersByTimeAsync(10_000)
    expect(await reading).toEqual([])
    await store._write([['q1', 'a']])
    answer!()
    await turns()
    expect(await store._all()).toEqual([['q1', 'a']])
  })
})
