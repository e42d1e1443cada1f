/**
 * Settings for {@link createFlameup}: exactly one transport, `proxyUrl` (recommended) or
 * `workspaceId` (direct mode). `{}` and a config with both do not type-check (at run time they
 * throw `FlameupError` `invalid_config`, CONTRACT §3).
 */
export type FlameupConfig = FlameupProxyConfig | FlameupDirectConfig

/** Proxy mode: batches go to your proxy, which holds the API key. */
export interface FlameupProxyConfig extends FlameupOptions {
  /** URL, absolute or relative, of your Flameup proxy. Batches go there and the API key stays on your server. */
  proxyUrl: string
  workspaceId?: never
  apiKey?: never
  apiHost?: never
}

/** Direct mode: the browser calls the API itself (the key, if any, is public). */
export interface FlameupDirectConfig extends FlameupOptions {
  proxyUrl?: never
  /** Direct mode: the Flameup workspace that people are created in. */
  workspaceId: string
  /** Direct mode: sent as `Authorization: Bearer`. Anyone can read it in the page; prefer `proxyUrl`. */
  apiKey?: string
  /**
   * Direct mode: base URL of the API. A custom host may omit `apiKey` (a reverse proxy that adds it).
   * @default 'https://api.flameup.ai'
   */
  apiHost?: string
}

/** The delivery settings both transports share. */
export interface FlameupOptions {
  /**
   * Most calls per request to the proxy; most requests per flush round in direct mode.
   * @default 50
   */
  batchSize?: number
  /**
   * Milliseconds from the first queued call to the automatic flush.
   * @default 1000
   */
  flushInterval?: number
  /**
   * Milliseconds of the first retry delay; it doubles per attempt, with full jitter.
   * @default 1000
   */
  retryBaseDelay?: number
  /**
   * Milliseconds, the cap of the retry delay and of a `Retry-After` answer.
   * @default 60000
   */
  retryMaxDelay?: number
  /**
   * Attempts before a call is dropped with reason `max_attempts`.
   * @default 10
   */
  maxAttempts?: number
  /**
   * Calls kept in the queue; past it the oldest is dropped with reason `queue_full`.
   * @default 1000
   */
  maxQueueSize?: number
  /**
   * Where the queue lives. Falls back to `'memory'` when IndexedDB is unusable.
   * @default 'indexeddb'
   */
  storage?: 'indexeddb' | 'memory'
  /**
   * Log what happens to the console.
   * @default false
   */
  debug?: boolean
}

/** What you know about a person. `email` goes to the API's top-level `email`; every other key to `traits`. */
export interface Traits {
  email?: string
  first_name?: string
  last_name?: string
  phone?: string
  avatar_url?: string
  timezone?: string
  locale?: string
  [key: string]: unknown
}

/** The third argument of `identify`. */
export interface IdentifyOptions {
  /**
   * The identity proof your server computed for this `userId`: lowercase hex HMAC-SHA256 of the
   * `userId`, keyed with the proxy's `identitySecret` (contract §6). Stored with the call and sent to
   * the proxy in the batch item; never sent to the API. A call the proxy refuses is dropped
   * (`rejected`, status 403). Not a string: `FlameupError` `invalid_argument`, field `userHash`.
   */
  userHash?: string
}

/**
 * What `identify` resolves with: `'queued'` once the call is durably stored (or already answered),
 * `'skipped'` when it equals the last call delivered for that user in the past 24 hours,
 * `'opted_out'` while the browser is opted out (contract §3).
 */
export type IdentifyResult = 'queued' | 'skipped' | 'opted_out'

/** The person object the Flameup API answers with. */
export interface Person {
  id: string
  workspace_id: string
  external_id: string
  email?: string | null
  phone?: string | null
  first_name?: string | null
  last_name?: string | null
  avatar_url?: string | null
  timezone?: string | null
  locale?: string | null
  status?: string
  attributes?: Record<string, unknown>
  created_at?: string
  updated_at?: string
  first_seen_at?: string
  last_seen_at?: string
  [key: string]: unknown
}

export interface DeliveredEvent {
  messageId: string
  userId: string
  /** The person the API answered with, when it answered with one. */
  person?: Person
}

export type DropReason = 'rejected' | 'max_attempts' | 'queue_full' | 'expired'

export interface DroppedEvent {
  messageId: string
  userId: string
  reason: DropReason
  /** The HTTP status of the last answer, when there was one. */
  status?: number
  /** The API's error body for a rejected call. */
  error?: unknown
}

export interface PausedEvent {
  reason: 'unauthorized' | 'offline'
}

export interface FlameupEvents {
  delivered: DeliveredEvent
  dropped: DroppedEvent
  paused: PausedEvent
}

export type FlameupEventName = keyof FlameupEvents

export interface Flameup {
  /**
   * Validates the call and queues it durably; a page closing meanwhile still sends it. Resolves
   * with an {@link IdentifyResult} (`'queued'` once stored); rejects with a `FlameupError`
   * (`invalid_argument`, `field`) on bad input, queueing nothing.
   */
  identify(userId: string, traits?: Traits, options?: IdentifyOptions): Promise<IdentifyResult>
  /** Sends everything due now. Resolves when the queue is empty or what is left waits on backoff. */
  flush(): Promise<void>
  /** Listens to an event; returns a function that stops listening. */
  on<E extends FlameupEventName>(event: E, listener: (payload: FlameupEvents[E]) => void): () => void
  /** How many calls wait in the queue. */
  pending(): Promise<number>
  /** Stops collecting: clears the queue and ignores later calls, across page loads. */
  optOut(): Promise<void>
  /** Collects again after `optOut`. */
  optIn(): Promise<void>
  /** Stops timers and page listeners. Queued calls stay stored for the next start. */
  close(): void
}
