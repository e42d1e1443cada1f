import { createStore, promisifyRequest as done, type UseStore } from 'idb-keyval'

/** The three operations the queue and the lease need; IndexedDB and memory both provide them. */
export interface Store {
  /** Every entry, sorted by key. */
  all(): Promise<[string, any][]>
  /** Puts and deletes in one transaction. */
  write(puts: [string, unknown][], dels?: string[]): Promise<void>
  /** Reads, changes and writes one value atomically (one readwrite transaction); answers the new value. */
  update<T>(key: string, change: (value: T | undefined) => T): Promise<T>
}

export const memoryStore = (map = new Map<string, any>()): Store => ({
  all: async () => [...map].sort(([a], [b]) => (a < b ? -1 : 1)),
  write: async (puts, dels = []) => {
    puts.forEach(([key, value]) => map.set(key, value))
    dels.forEach((key) => map.delete(key))
  },
  update: async (key, change) => map.set(key, change(map.get(key))).get(key),
})

// idb-keyval's own entries/setMany/delMany/update each carry its default-store code and a cursor
// fallback for browsers without getAll; these three over its createStore are all we need.
const idbStore = (use: UseStore): Store => ({
  all: () =>
    use('readonly', (store) =>
      Promise.all([done(store.getAllKeys()), done(store.getAll())]).then(([keys, values]) =>
        keys.map((key, i): [string, any] => [key as string, values[i]]),
      ),
    ),
  write: (puts, dels = []) =>
    use('readwrite', (store) => {
      puts.forEach(([key, value]) => store.put(value, key))
      dels.forEach((key) => store.delete(key))
      return done(store.transaction)
    }),
  update: (key, change) =>
    use('readwrite', (store) => {
      let value: any
      // The put must be issued from the get's success callback, while the transaction is surely active.
      store.get(key).onsuccess = function () {
        store.put((value = change(this.result)), key)
      }
      return done(store.transaction).then(() => value)
    }),
})

/**
 * IndexedDB through idb-keyval, in a database of its own, opened on first use. The first time an
 * operation fails (no IndexedDB, private mode, quota) or hangs for 10 s (a blocked open), it and
 * every later one go to memory instead, so the page never sees the error.
 */
export const openStore = (kind: 'indexeddb' | 'memory', log: (...args: unknown[]) => void): Store => {
  const memory: any = memoryStore()
  let store: any = kind == 'indexeddb' ? idbStore(createStore('flameup', 'queue')) : memory
  const operation =
    (name: keyof Store) =>
    async (...args: unknown[]) => {
      let timer
      try {
        // A synchronous throw (no indexedDB global) lands in the catch too.
        return await Promise.race([store[name](...args), new Promise((_, reject) => (timer = setTimeout(reject, 1e4)))])
      } catch (error) {
        if (store != memory) log('IndexedDB failed, using memory', error)
        store = memory
        return memory[name](...args)
      } finally {
        clearTimeout(timer)
      }
    }
  return { all: operation('all'), write: operation('write'), update: operation('update') }
}
