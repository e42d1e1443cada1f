// Shared test helpers: a fixed fake clock, an event-loop pump for fake-indexeddb, a stubbed
// fetch that plays the proxy or the API, and direct access to the SDK's IndexedDB store.
import { createStore, entries, setMany } from 'idb-keyval'
import { vi } from 'vitest'
import { createFlameup, type Flameup, type FlameupConfig, type FlameupEvents } from '../src/index'

/** The fixed "now" of every test that fakes the clock: 2030-01-01T00:00:00.000Z. */
export const T0 = Date.UTC(2030, 0, 1)
export const DAY = 864e5

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/**
 * Fakes only the clocks the SDK reads. setImmediate and queueMicrotask stay real because
 * fake-indexeddb runs its transactions on them (fakeIndexedDB issues #64, #92).
 */
export const useClock = (now = T0) => {
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] })
  vi.setSystemTime(now)
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Lets pending IndexedDB work run: a fixed number of event-loop turns, never wall-clock time. */
export const turns = async (count = 200) => {
  for (let i = 0; i < count; i++) await tick()
}

/**
 * Lets `ms` of fake time pass in steps shorter than the SDK's own timeouts (IndexedDB 10 s,
 * requests 30 s), pumping the event loop after each step. One big jump would fire those timeouts
 * while IndexedDB work is still pending, and a test of "nothing is sent" could pass by accident.
 */
export const elapse = async (ms: number, step = 2000) => {
  for (let left = ms; left > 0; left -= step) {
    await vi.advanceTimersByTimeAsync(Math.min(step, left))
    await turns()
  }
}

/** Pumps the event loop until `check()` holds; fails after a bounded number of turns. */
export const until = async (check: () => boolean, what = 'condition') => {
  for (let i = 0; i < 5000; i++) {
    if (check()) return
    await tick()
  }
  throw new Error('timed out waiting for ' + what)
}

export interface Deferred<T> {
  promise: Promise<T>
  resolve: (value: T) => void
}

export const defer = <T>(): Deferred<T> => {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/** One request the SDK made, as the stubbed fetch saw it. */
export interface Sent {
  url: string
  init: RequestInit
  /** The raw body string. */
  raw: string
  /** The parsed body. */
  body: any
  /** Date.now() when fetch was called (the fake clock). */
  time: number
}

export type Reply = (request: Sent) => Response | Promise<Response>

export const json = (body: unknown, status = 200, headers?: Record<string, string>) =>
  new Response(JSON.stringify(body), { status, headers })

export const person = (userId: string) => ({ id: 'p_' + userId, workspace_id: 'ws_1', external_id: userId })

const apiError = { error: 'Bad Request', message: 'Invalid email format', code: 400, details: [{ field: 'email', message: 'Invalid email format' }] }

/**
 * A proxy that answers one result per batch item; `status(item)` picks the item's status
 * (undefined leaves the item out of the results). 2xx items get a person, others an error body.
 */
export const proxy =
  (status: (item: any) => number | undefined = () => 201): Reply =>
  ({ body }) =>
    json({
      results: body.batch.flatMap((item: any) => {
        const code = status(item)
        if (code === undefined) return []
        return [code < 300 ? { messageId: item.messageId, status: code, person: person(item.userId) } : { messageId: item.messageId, status: code, error: apiError }]
      }),
    })

/** The API in direct mode: 201 with a person, or `status` with an error body. */
export const api =
  (status: (body: any) => number = () => 201): Reply =>
  ({ body }) => {
    const code = status(body)
    return code < 300 ? json(person(body.userId), code) : json({ ...apiError, code }, code)
  }

/** Replaces fetch; every request is recorded, then answered by `reply` (a proxy that accepts everything by default). */
export const stubFetch = (reply: Reply = proxy()) => {
  const sent: Sent[] = []
  const fetch = vi.fn(async (url: string | URL, init: RequestInit = {}) => {
    const raw = typeof init.body == 'string' ? init.body : ''
    let body: any
    try {
      body = JSON.parse(raw)
    } catch {
      body = undefined
    }
    const request: Sent = { url: String(url), init, raw, body, time: Date.now() }
    sent.push(request)
    return reply(request)
  })
  vi.stubGlobal('fetch', fetch)
  return sent
}

/** The batch items of every proxy request, flattened. */
export const items = (sent: Sent[]) => sent.flatMap((request) => request.body.batch)

export const bytes = (text: string) => new TextEncoder().encode(text).length

const open: Flameup[] = []

/** createFlameup, closed again by closeAll() after the test. */
export const client = (config: FlameupConfig = { proxyUrl: '/flameup' }) => {
  const flameup = createFlameup(config)
  open.push(flameup)
  return flameup
}

export const closeAll = () => open.splice(0).forEach((flameup) => flameup.close())

export type Recorded = { [E in keyof FlameupEvents]: FlameupEvents[E][] }

/** Records every event the client emits. */
export const record = (flameup: Flameup): Recorded => {
  const log: Recorded = { delivered: [], dropped: [], paused: [] }
  flameup.on('delivered', (event) => log.delivered.push(event))
  flameup.on('dropped', (event) => log.dropped.push(event))
  flameup.on('paused', (event) => log.paused.push(event))
  return log
}

/** The SDK's own IndexedDB store, opened afresh (each test has a new IDBFactory). */
const db = () => createStore('flameup', 'queue')

/** Every entry of the SDK's database. */
export const stored = async () => (await entries(db())) as [string, any][]

/** The queued calls left in IndexedDB, in key order. */
export const queued = async () => (await stored()).filter(([key]) => String(key).startsWith('q')).map(([, value]) => value)

/** Writes raw entries, as an earlier page (or a corrupting bug) would have left them. */
export const putRecords = (records: [string, unknown][]) => setMany(records, db())

/** A queued call as an earlier page would have stored it. */
export const leftover = (userId: string, fields: Record<string, unknown> = {}) => ({
  messageId: crypto.randomUUID(),
  userId,
  traits: {},
  timestamp: new Date(Date.now()).toISOString(),
  attempts: 0,
  nextAt: 0,
  ...fields,
})

/** Makes navigator.onLine report `online`. */
export const setOnline = (online: boolean) => vi.spyOn(navigator, 'onLine', 'get').mockReturnValue(online)

/** Makes document.visibilityState report `state` until restored by the returned function. */
export const setVisibility = (state: DocumentVisibilityState) => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state })
  return () => delete (document as any).visibilityState
}
