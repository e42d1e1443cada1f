import { normaliseOrigins } from './cors'
import { createMemoryStore, type DedupeStore } from './dedupe'
import type { UpstreamSend } from './upstream'

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
   * API calls in flight at once per incoming request. Six is Cloudflare Workers' limit of
   * simultaneous outgoing connections per request.
   * @default 6
   */
  concurrency?: number
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

export type ResolvedOptions = Required<Omit<ProxyOptions, 'allowedOrigins' | 'send'>> & {
  allowedOrigins: readonly string[] | '*'
  send?: UpstreamSend
}

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
    maxBodyBytes: positive('maxBodyBytes', options.maxBodyBytes ?? 1048576),
    maxBatchItems: Math.floor(positive('maxBatchItems', options.maxBatchItems ?? 100)),
    store: options.store ?? createMemoryStore(),
    dedupeTtlMs: positive('dedupeTtlMs', options.dedupeTtlMs ?? 86400000),
    log: options.log ?? (() => {}),
  }
}
