import { promisifyRequest as done } from 'idb-keyval'

/** A put, or the key to delete. */
export type Change = [key: string, value: unknown] | string

/** The three operations the queue and the lease need. */
export interface Store {
  /** Every entry, sorted by key. */
  _all(): Promise<[string, any][]>
  /** Puts (`[key, value]`) and deletes (a key) in one transaction, in list order. */
  _write(changes: Change[]): Promise<void>
  /** Reads, changes and writes one value atomically (one readwrite transaction); answers the new value. */
  _update<T>(key: string, change: (value: T | undefined) => T): Promise<T>
}

/**
 * IndexedDB (database 'flameup', object store 'queue'), opened on first use; or a Map for
 * 'memory'. The Map also mirrors what IndexedDB last held for this page, so that when an
 * IndexedDB operation fails mid-session (quota, a dead connection) the page keeps every call it
 * knew (contract §4a). A failed operation is tried once more on a fresh connection (WebKit loses
 * connections without a close event); failing again, or hanging 10 s (a blocked open), it and
 * every later one go to the Map, and the page never sees the error. On `versionchange` the
 * connection is closed at once, so another tab can delete (logout) or upgrade the database.
 */
export const openStore = (kind: 'indexeddb' | 'memory', log: (...args: unknown[]) => void): Store => {
  let map = new Map<string, any>()
  let use = kind == 'indexeddb'
  let db: Promise<IDBDatabase> | undefined
  // idb-keyval's createStore hides its connection, which must be closed on versionchange.
  const open = () => {
    const request = indexedDB.open('flameup')
    request.onupgradeneeded = () => request.result.createObjectStore('queue')
    // Called as a handler, close() gets the connection as `this`. The next operation finds it
    // closed and reopens.
    return done(request).then((connection) => ((connection.onversionchange = connection.close), connection))
  }
  // The Map answers every operation; IndexedDB, while usable, is written first and refreshes it.
  const run = async <T>(mode: IDBTransactionMode, indexedDB: (store: IDBObjectStore) => Promise<unknown>, memory: () => T) => {
    for (let tries = 2; use && tries--; ) {
      let timer
      try {
        // A synchronous throw (no indexedDB global, a closing connection) lands in the catch too.
        await Promise.race([
          (db ||= open()).then((connection) => indexedDB(connection.transaction('queue', mode).objectStore('queue'))),
          new Promise<never>((_, reject) => (timer = setTimeout(reject, 1e4))),
        ])
        break
      } catch (error) {
        db = undefined
        // A timeout rejects with nothing: a blocked open is not waited for twice.
        if (!tries || !error) log('IndexedDB failed', error), (use = false)
      } finally {
        clearTimeout(timer)
      }
    }
    return memory()
  }
  return {
    _all: () =>
      run(
        'readonly',
        (store) =>
          Promise.all([done(store.getAllKeys()), done(store.getAll())]).then(
            // Not once the Map took over: a read that answers late must not replace it.
            ([keys, values]) => use && (map = new Map(keys.map((key, i) => [key as string, values[i]]))),
          ),
        // The default sort compares "key,value" strings: key order wherever it matters, since queue
        // keys all have one length and no other key starts with 'q'.
        () => [...map].sort(),
      ),
    _write: (changes) =>
      run(
        'readwrite',
        (store) => {
          changes.forEach((change) => (typeof change == 'string' ? store.delete(change) : store.put(change[1], change[0])))
          return done(store.transaction)
        },
        () => changes.forEach((change) => (typeof change == 'string' ? map.delete(change) : map.set(...change))),
      ),
    // The lease alone uses it: the Map need not mirror it.
    _update: (key, change, value?: any) =>
      run(
        'readwrite',
        (store) => {
          // The put must be issued from the get's success callback, while the transaction is surely active.
          store.get(key).onsuccess = function () {
            store.put((value = change(this.result)), key)
          }
          return done(store.transaction)
        },
        () => (use ? value : map.set(key, change(map.get(key))).get(key)),
      ),
  }
}
