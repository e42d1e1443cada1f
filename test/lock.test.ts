import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createLock } from '../src/lock'
import { openStore, type Store } from '../src/store'

const memoryStore = () => openStore('memory', () => {})
import { defer, until, useClock } from './helpers'

const backends: [string, () => Store][] = [
  ["openStore('indexeddb')", () => openStore('indexeddb', () => {})],
  ["openStore('memory')", () => memoryStore()],
]

describe.each(backends)('createLock over %s (lease, no Web Locks)', (_, open) => {
  beforeEach(() => useClock())

  /** Starts a task under `lock` that holds it until released. */
  const hold = async (lock: ReturnType<typeof createLock>) => {
    const release = defer<void>()
    let holding = false
    const done = lock(async () => {
      holding = true
      await release.promise
    })
    await until(() => holding, 'the lease')
    return { release: release.resolve, done }
  }

  it('runs the task and answers true when nobody holds the lease', async () => {
    const task = vi.fn(async () => {})
    expect(await createLock(open(), 'tab-a')(task)).toBe(true)
    expect(task).toHaveBeenCalledTimes(1)
  })

  it('answers false without running the task while another owner holds an unexpired lease', async () => {
    const store = open()
    const held = await hold(createLock(store, 'tab-a'))
    const task = vi.fn(async () => {})
    vi.setSystemTime(Date.now() + 30_000)
    expect(await createLock(store, 'tab-b')(task)).toBe(false)
    expect(task).not.toHaveBeenCalled()
    held.release()
    expect(await held.done).toBe(true)
  })

  it('lets the next owner in once the holder is done', async () => {
    const store = open()
    const held = await hold(createLock(store, 'tab-a'))
    held.release()
    await held.done
    const task = vi.fn(async () => {})
    expect(await createLock(store, 'tab-b')(task)).toBe(true)
    expect(task).toHaveBeenCalled()
  })

  it('lets the next owner in when the holder died and its lease expired', async () => {
    const store = open()
    await hold(createLock(store, 'tab-a'))
    vi.setSystemTime(Date.now() + 10 * 60_000)
    const task = vi.fn(async () => {})
    expect(await createLock(store, 'tab-b')(task)).toBe(true)
    expect(task).toHaveBeenCalled()
  })

  it('releases the lease when the task fails', async () => {
    const store = open()
    await expect(
      createLock(store, 'tab-a')(async () => {
        throw new Error('round failed')
      }),
    ).rejects.toThrow('round failed')
    expect(await createLock(store, 'tab-b')(async () => {})).toBe(true)
  })

  it('lets the same owner in again', async () => {
    const store = open()
    const lock = createLock(store, 'tab-a')
    expect(await lock(async () => {})).toBe(true)
    expect(await lock(async () => {})).toBe(true)
  })
})

describe('createLock with Web Locks', () => {
  afterEach(() => {
    delete (navigator as any).locks
  })

  it('runs the task under navigator.locks and does not touch the store', async () => {
    const request = vi.fn((_name: string, task: () => Promise<unknown>) => task())
    Object.defineProperty(navigator, 'locks', { configurable: true, value: { request } })
    const store = memoryStore()
    const write = vi.spyOn(store, '_write')
    const task = vi.fn(async () => {})
    expect(await createLock(store, 'tab-a')(task)).toBe(true)
    expect(task).toHaveBeenCalledTimes(1)
    expect(request).toHaveBeenCalledWith(expect.any(String), expect.any(Function))
    expect(write).not.toHaveBeenCalled()
  })

  it('uses one lock name for every owner, so tabs queue behind each other', async () => {
    const request = vi.fn((_name: string, task: () => Promise<unknown>) => task())
    Object.defineProperty(navigator, 'locks', { configurable: true, value: { request } })
    await createLock(memoryStore(), 'tab-a')(async () => {})
    await createLock(memoryStore(), 'tab-b')(async () => {})
    expect(request.mock.calls[0][0]).toBe(request.mock.calls[1][0])
  })
})

// Contract §4a: in `<iframe sandbox="allow-scripts">` (an opaque origin) navigator.locks exists but
// rejects with SecurityError (reported against Workbox and PostHog: nothing flushed until unload).
describe('createLock with unusable Web Locks', () => {
  afterEach(() => {
    delete (navigator as any).locks
  })

  const locks = {
    rejects: () => Promise.reject(new DOMException('The request was denied.', 'SecurityError')),
    throws: () => {
      throw new DOMException('The request was denied.', 'SecurityError')
    },
    'is not a function': undefined,
  }

  it.each(Object.keys(locks) as (keyof typeof locks)[])('falls back to the lease when request %s', async (how) => {
    Object.defineProperty(navigator, 'locks', { configurable: true, value: { request: locks[how] } })
    const store = memoryStore()
    const update = vi.spyOn(store, '_update')
    const task = vi.fn(async () => {})
    expect(await createLock(store, 'tab-a')(task)).toBe(true)
    expect(task).toHaveBeenCalledTimes(1)
    expect(update).toHaveBeenCalled()
  })

  it("passes the task's own failure on, after one more run under the lease", async () => {
    Object.defineProperty(navigator, 'locks', { configurable: true, value: { request: (_: string, task: () => Promise<unknown>) => task() } })
    const store = memoryStore()
    const task = vi.fn(async () => {
      throw new Error('boom')
    })
    await expect(createLock(store, 'tab-a')(task)).rejects.toThrow('boom')
    expect(task).toHaveBeenCalledTimes(2)
    // The lease is released even so.
    expect(await store._all()).toEqual([])
  })
})
