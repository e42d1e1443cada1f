import { createStore, delMany, entries, get, setMany, type UseStore } from 'idb-keyval'

/** The four operations the queue needs; IndexedDB and memory both provide them. */
export interface Store {
  get(key: string): Promise<any>
  setMany(items: [string, unknown][]): Promise<void>
  /** Every entry, sorted by key. */
  entries(): Promise<[string, any][]>
  delMany(keys: string[]): Promise<void>
}

export const memoryStore = (): Store => {
  const map = new Map<string, unknown>()
  return {
    get: async (key) => map.get(key),
    setMany: async (items) => items.forEach(([key, value]) => map.set(key, value)),
    entries: async () => [...map].sort(([a], [b]) => (a < b ? -1 : 1)),
    delMany: async (keys) => keys.forEach((key) => map.delete(key)),
  }
}

/** An IndexedDB operation that neither resolves nor fails in this time (a blocked open) counts as failed. */
const IDB_TIMEOUT = 10000

const withTimeout = <T>(operation: Promise<T>) =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(reject, IDB_TIMEOUT, new Error('IndexedDB timed out'))
    operation.then(resolve, reject).finally(() => clearTimeout(timer))
  })

/**
 * IndexedDB through idb-keyval, in a database of its own, opened on first use. The first time it
 * fails (missing, private mode, quota, blocked) every later operation goes to memory instead, so
 * the page never sees the error.
 */
export const openStore = (kind: 'indexeddb' | 'memory', log: (...args: unknown[]) => void): Store => {
  const memory = memoryStore()
  if (kind == 'memory') return memory
  let idb: UseStore | undefined
  const fallback =
    (name: keyof Store, operation: (...args: any[]) => Promise<any>) =>
    (...args: any[]): Promise<any> =>
      idb
        ? withTimeout(operation(...args, idb)).catch((error) => {
            log('IndexedDB failed, using memory:', error)
            idb = undefined
            return (memory[name] as any)(...args)
          })
        : (memory[name] as any)(...args)
  try {
    idb = createStore('flameup', 'queue')
  } catch (error) {
    // idb-keyval opens lazily, but a missing `indexedDB` global can still throw here in old engines.
    log('IndexedDB unavailable, using memory:', error)
  }
  return {
    get: fallback('get', get),
    setMany: fallback('setMany', setMany),
    entries: fallback('entries', entries),
    delMany: fallback('delMany', delMany),
  }
}
