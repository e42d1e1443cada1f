import { createStore, promisifyRequest as done } from 'idb-keyval'

/** The three operations the queue and the lease need. */
export interface Store {
  /** Every entry, sorted by key. */
  _all(): Promise<[string, any][]>
  /** Puts and deletes in one transaction. */
  _write(puts: [string, unknown][], dels?: string[]): Promise<void>
  /** Reads, changes and writes one value atomically (one readwrite transaction); answers the new value. */
  _update<T>(key: string, change: (value: T | undefined) => T): Promise<T>
}

/**
 * IndexedDB through idb-keyval, in a database of its own, opened on first use; or a Map for
 * 'memory'. The first time an IndexedDB operation fails (no IndexedDB, private mode, quota) or hangs
 * for 10 s (a blocked open), it and every later one go to the Map instead, so the page never sees
 * the error. Each operation is written once per backend, side by side.
 */
export const openStore = (kind: 'indexeddb' | 'memory', log: (...args: unknown[]) => void): Store => {
  const map = new Map<string, any>()
  let use = kind == 'indexeddb' && createStore('flameup', 'queue')
  const run = async <T>(mode: IDBTransactionMode, indexedDB: (store: IDBObjectStore) => Promise<T>, memory: () => T) => {
    let timer
    try {
      // A synchronous throw (no indexedDB global) lands in the catch too.
      if (use) return await Promise.race([use(mode, indexedDB), new Promise<never>((_, reject) => (timer = setTimeout(reject, 1e4)))])
    } catch (error) {
      if (use) log('IndexedDB failed, using memory', error)
      use = false
    } finally {
      clearTimeout(timer)
    }
    return memory()
  }
  // idb-keyval's own entries/setMany/delMany/update each carry its default-store code and a cursor
  // fallback for browsers without getAll; these three over its createStore are all we need.
  return {
    _all: () =>
      run(
        'readonly',
        (store) =>
          Promise.all([done(store.getAllKeys()), done(store.getAll())]).then(([keys, values]) =>
            keys.map((key, i): [string, any] => [key as string, values[i]]),
          ),
        // The default sort compares "key,value" strings: key order wherever it matters, since queue
        // keys all have one length and no other key starts with 'q'.
        () => [...map].sort(),
      ),
    _write: (puts, dels = []) =>
      run(
        'readwrite',
        (store) => {
          puts.forEach(([key, value]) => store.put(value, key))
          dels.forEach((key) => store.delete(key))
          return done(store.transaction)
        },
        () => {
          puts.forEach(([key, value]) => map.set(key, value))
          dels.forEach((key) => map.delete(key))
        },
      ),
    _update: (key, change) =>
      run(
        'readwrite',
        (store) => {
          let value: any
          // The put must be issued from the get's success callback, while the transaction is surely active.
          store.get(key).onsuccess = function () {
            store.put((value = change(this.result)), key)
          }
          return done(store.transaction).then(() => value)
        },
        () => map.set(key, change(map.get(key))).get(key),
      ),
  }
}
