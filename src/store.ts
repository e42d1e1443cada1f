import { createStore, promisifyRequest, type UseStore } from 'idb-keyval'

/** The operations the queue and the lease need; IndexedDB and memory both provide them. */
export interface Store {
  get(key: string): Promise<any>
  /** Reads, changes and writes one value atomically (one readwrite transaction); answers the new value. */
  update<T>(key: string, change: (value: T | undefined) => T): Promise<T>
  setMany(items: [string, unknown][]): Promise<void>
  /** Every entry, sorted by key. */
  entries(): Promise<[string, any][]>
  delMany(keys: string[]): Promise<void>
}

export const memoryStore = (): Store => {
  const map = new Map<string, unknown>()
  return {
    get: async (key) => map.get(key),
    update: async (key, change) => {
      const value = change(map.get(key) as any)
      map.set(key, value)
      return value
    },
    setMany: async (items) => items.forEach(([key, value]) => map.set(key, value)),
    entries: async () => [...map].sort(([a], [b]) => (a < b ? -1 : 1)),
    delMany: async (keys) => keys.forEach((key) => map.delete(key)),
  }
}

// idb-keyval's own get/update/setMany/delMany/entries each carry its default-store code and a
// cursor fallback for browsers without getAll; these over its createStore are all we need.
const idbStore = (use: UseStore): Store => {
  const write = (each: (store: IDBObjectStore) => void) =>
    use('readwrite', (store) => {
      each(store)
      return promisifyRequest(store.transaction)
    })
  return {
    get: (key) => use('readonly', (store) => promisifyRequest(store.get(key))),
    update: (key, change) =>
      use('readwrite', (store) => {
        let value: any
        // The put must be issued from the get's success callback, while the transaction is surely active.
        store.get(key).onsuccess = function () {
          store.put((value = change(this.result)), key)
        }
        return promisifyRequest(store.transaction).then(() => value)
      }),
    setMany: (items) => write((store) => items.forEach(([key, value]) => store.put(value, key))),
    entries: () =>
      use('readonly', (store) =>
        Promise.all([promisifyRequest(store.getAllKeys()), promisifyRequest(store.getAll())]).then(([keys, values]) =>
          keys.map((key, i): [string, any] => [key as string, values[i]]),
        ),
      ),
    delMany: (keys) => write((store) => keys.forEach((key) => store.delete(key))),
  }
}

/** An IndexedDB operation that neither resolves nor fails in this time (a blocked open) counts as failed. */
const IDB_TIMEOUT = 10000

/**
 * IndexedDB through idb-keyval, in a database of its own, opened on first use. The first time an
 * operation fails (no IndexedDB, private mode, quota, blocked) it and every later one go to
 * memory instead, so the page never sees the error.
 */
export const openStore = (kind: 'indexeddb' | 'memory', log: (...args: unknown[]) => void): Store => {
  const memory = memoryStore()
  let idb: Store | false = kind == 'indexeddb' && idbStore(createStore('flameup', 'queue'))
  const operation =
    (name: keyof Store) =>
    (...args: any[]) =>
      new Promise<any>((resolve, reject) => {
        if (!idb) return reject()
        const timer = setTimeout(reject, IDB_TIMEOUT)
        ;(idb[name] as any)(...args)
          .then(resolve, reject)
          .finally(() => clearTimeout(timer))
      }).catch((error) => {
        if (idb) log('IndexedDB failed, using memory', error)
        idb = false
        return (memory[name] as any)(...args)
      })
  return {
    get: operation('get'),
    update: operation('update'),
    setMany: operation('setMany'),
    entries: operation('entries'),
    delMany: operation('delMany'),
  }
}
