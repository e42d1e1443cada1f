import { normaliseOrigins } from './cors'
import { createMemoryStore, type DedupeStore } from './dedupe'
import type { UpstreamSend } from './upstream'
import type { Authorize } from './identity'
import type { RateLimitOptions } from './limit'

/** Settings for {@link createProxyHandler}. Only `apiKey` and `workspaceId` are required. */
export interface ProxyOptions {
  /** Your Flameup API key. Sent upstream as `Authorization: Bearer`; never in an answer or a log line. */
  apiKey: string
  /** The Flameup workspace that people are created in. */
  workspaceId: string
  /**
   * Base URL of the Flameup API.
   * @default 'https://api.flameup.ai'
   */
  apiHost?: string
  /**
   * Origins (`https://shop.example`) whose pages may call the proxy from the browser, as an array or
   * a comma-separated string, or `'*'` for any. Same-origin requests and requests without an
   * `Origin` header (servers) are always allowed. Entries are compared as browsers send `Origin`
   * (case and a trailing slash do not matter); one that is not an http(s) origin, such as
   * `shop.example` without its scheme, throws `FlameupError` `invalid_config` naming it.
   * @default [] (same origin only)
   */
  allowedOrigins?: readonly string[] | string
  /**
   * The `fetch` used to reach the API (tests, instrumentation, a runtime's own client).
   * @default globalThis.fetch
   */
  fetch?: (input: string, init: RequestInit) => Promise<Response>
  /**
   * Used instead of `fetch` when set: a leaner client with its own time limits, such as
   * `createUndiciSend({ timeoutMs })` from `flameup/proxy/undici` on Node (what the CLI uses).
   * @default undefined (fetch, with a timer per call)
   */
  send?: UpstreamSend
  /**
   * Milliseconds one API call may take, answer body included; past it the call is aborted and the
   * item answered 504, which the browser retries.
   * @default 10000
   */
  timeoutMs?: number
  /**
   * API calls in flight at once per incoming request, within `maxConcurrency`. Six is Cloudflare
   * Workers' limit of simultaneous outgoing connections per request; it also keeps one large batch
   * from taking every slot ahead of other requests.
   * @default 6
   */
  concurrency?: number
  /**
   * API calls in flight at once across ALL requests of this handler (CONTRACT §6 Limits): the cap
   * on what clients together can spend of the workspace's API quota. 50 requests at once used to
   * put 300 calls in flight (issue 10).
   * @default 64
   */
  maxConcurrency?: number
  /**
   * Items that may wait for one of the `maxConcurrency` slots. A request that would take the
   * count past it is answered 503 with `Retry-After` at once, instead of joining an unbounded queue.
   * @default 2000
   */
  maxPending?: number
  /**
   * Items per minute per client: `{ perMinute, key(request) }`, where `key` names the client
   * (its address, a session id) or returns `undefined` for no limit. Past it the whole request is
   * answered 429 with `Retry-After`. A client may spend a minute's worth at once (a token bucket).
   * @default undefined (no limit; the CLI sets 600 per client address)
   */
  rateLimit?: RateLimitOptions
  /**
   * Secret for identity verification (CONTRACT §6): every item must carry `userHash`, the
   * lowercase hex HMAC-SHA256 of its `userId` keyed with this secret, which your server computes
   * at login. A call without a matching hash is answered 403 and never reaches the API.
   * @default undefined (no check: anyone may send any userId)
   */
  identitySecret?: string
  /**
   * Your own identity check, alone or with `identitySecret`: resolve `true` to let the call
   * through; anything else answers it 403 without calling the API, a throw answers it 503.
   * @default undefined
   */
  authorize?: Authorize
  /**
   * Put the API's person in the answers of calls whose identity was verified (`identitySecret`
   * or `authorize` passed). Never for unverified calls: by default no person data leaves the proxy.
   * @default false
   */
  exposePerson?: boolean
  /**
   * Largest request body in bytes; larger ones are answered 413. The browser sends at most 64 KB.
   * @default 1048576
   */
  maxBodyBytes?: number
  /**
   * Most items in one batch; more is answered 400. The browser sends at most 50.
   * @default 100
   */
  maxBatchItems?: number
  /**
   * Where calls in flight are claimed and delivered calls remembered, so that a resend is answered
   * without calling the API again. Share one (`createRedisStore` from `flameup/proxy/redis`)
   * between instances so that each call reaches the API once across them (CONTRACT §6 Scale-out).
   * @default createMemoryStore() (10,000 entries or 16 MB, per process)
   */
  store?: DedupeStore
  /**
   * Milliseconds a delivered call is remembered.
   * @default 86400000 (24 hours)
   */
  dedupeTtlMs?: number
  /**
   * Receives one line per problem worth an operator's eye (API unreachable, store failing). The
   * API key is removed from every line.
   * @default no logging
   */
  log?: (line: string) => void
}

type Optional = 'allowedOrigins' | 'rateLimit' | 'identitySecret' | 'authorize' | 'send'

export type ResolvedOptions = Required<Omit<ProxyOptions, Optional>> &
  Pick<ProxyOptions, 'rateLimit' | 'identitySecret' | 'authorize' | 'send'> & { allowedOrigins: readonly string[] | '*' }

const positive = (name: string, value: number) => {
  if (!(value > 0) || !Number.isFinite(value)) throw new TypeError('createProxyHandler: ' + name + ' must be a positive number')
  return value
}

/** Applies the defaults and refuses settings that could only fail later, at request time. */
export const resolveOptions = (options: ProxyOptions): ResolvedOptions => {
  const { apiKey, workspaceId, apiHost = 'https://api.flameup.ai' } = options || ({} as ProxyOptions)
  if (typeof apiKey != 'string' || !apiKey) throw new TypeError('createProxyHandler: apiKey is required')
  if (typeof workspaceId != 'string' || !workspaceId) throw new TypeError('createProxyHandler: workspaceId is required')
  if (!/^https?:\/\/[^/]/.test(apiHost)) throw new TypeError('createProxyHandler: apiHost must be an http(s) URL')
  const { rateLimit, identitySecret, authorize } = options
  if (rateLimit !== undefined && (typeof rateLimit?.key != 'function' || !(rateLimit.perMinute > 0)))
    throw new TypeError('createProxyHandler: rateLimit must be { perMinute: a positive number, key: (request) => string }')
  if (identitySecret !== undefined && (typeof identitySecret != 'string' || !identitySecret))
    throw new TypeError('createProxyHandler: identitySecret must be a non-empty string')
  if (authorize !== undefined && typeof authorize != 'function') throw new TypeError('createProxyHandler: authorize must be a function')
  return {
    apiKey,
    workspaceId,
    apiHost: apiHost.replace(/\/+$/, ''),
    allowedOrigins: normaliseOrigins(options.allowedOrigins ?? []),
    // A wrapper, not `fetch` itself: some runtimes throw "Illegal invocation" when fetch is called off globalThis.
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    send: options.send,
    timeoutMs: positive('timeoutMs', options.timeoutMs ?? 10000),
    concurrency: Math.floor(positive('concurrency', options.concurrency ?? 6)),
    maxConcurrency: Math.floor(positive('maxConcurrency', options.maxConcurrency ?? 64)),
    maxPending: Math.floor(positive('maxPending', options.maxPending ?? 2000)),
    rateLimit,
    identitySecret,
    authorize,
    exposePerson: options.exposePerson === true,
    maxBodyBytes: positive('maxBodyBytes', options.maxBodyBytes ?? 1048576),
    maxBatchItems: Math.floor(positive('maxBatchItems', options.maxBatchItems ?? 100)),
    store: options.store ?? createMemoryStore(),
    dedupeTtlMs: positive('dedupeTtlMs', options.dedupeTtlMs ?? 86400000),
    log: options.log ?? (() => {}),
  }
}
