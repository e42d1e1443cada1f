import type { Person } from '../types'
import { parseBatch, readBody, type BatchItem } from './body'
import { createOriginCheck, preflight } from './cors'
import { createDelivery } from './deliver'
import { checkItem } from './item'
import { mapLimit } from './limit'
import { resolveOptions, type ProxyOptions } from './options'
import type { Outcome } from './upstream'

export { createMemoryStore } from './dedupe'
export type { ClaimResult, DedupeStore, DeliveredRecord, MemoryStoreOptions } from './dedupe'
export type { UpstreamRequest, UpstreamResponse, UpstreamSend } from './upstream'
export { createNodeListener } from './node'
export type { NodeRequest, NodeResponse } from './node'
export type { ProxyOptions } from './options'
export type { Person } from '../types'

/** A Fetch-standard request handler: mount it wherever `(Request) => Promise<Response>` fits. */
export type ProxyHandler = (request: Request) => Promise<Response>

/** The answer for one batch item, in batch order (contract §6). */
export interface ProxyItemResult {
  messageId: string
  /** The API's status for this call, or 400 (invalid, not sent), 502 (unreachable), 504 (timed out). */
  status: number
  /** On 2xx: the person the API answered with. */
  person?: Person
  /** Otherwise: the API's error body, or one of the same shape. */
  error?: unknown
}

/** The body of a 200 answer. */
export interface ProxyResponseBody {
  results: ProxyItemResult[]
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
}

// After one of these the rest of the batch would get the same answer: sparing the API those calls
// matters when it rate limits (429), and a timeout would otherwise be waited out once per item.
// A refused connection fails fast and may be a one-off, so it does not stop the batch.
const STOPS_BATCH = (outcome: Outcome) => outcome.unreachable?.reason == 'timeout' || [401, 403, 429].includes(outcome.status)

const delaySeconds = (value: string) => (/^\d+$/.test(value) ? Number(value) : (Date.parse(value) - Date.now()) / 1000)

/** The latest Retry-After among the outcomes, as the API wrote it. */
const latestRetryAfter = (outcomes: Outcome[]) =>
  outcomes
    .map((outcome) => outcome.retryAfter)
    .reduce<string | undefined>((latest, value) => (value && (!latest || delaySeconds(value) > delaySeconds(latest)) ? value : latest), undefined)

/**
 * Creates the proxy between the browser SDK and the Flameup API: it checks the page's origin and
 * the batch, validates each call as the SDK does, sends the valid ones with the API key (bounded
 * concurrency, a timeout per call, each messageId at most once) and answers per item in batch order.
 */
export const createProxyHandler = (options: ProxyOptions): ProxyHandler => {
  const config = resolveOptions(options)
  const { apiKey, concurrency, maxBodyBytes, maxBatchItems } = config
  // Defence in depth: nothing the proxy writes may carry the key, even if the API echoed it back.
  // A string under 8 characters is no real key and would mangle ordinary text.
  const redact = (text: string) => (apiKey.length >= 8 ? text.split(apiKey).join('[redacted]') : text)
  const log = (line: string) => {
    try {
      config.log(redact(line))
    } catch {
      // A failing logger must not fail the request it reports on.
    }
  }
  const checkOrigin = createOriginCheck(config.allowedOrigins)
  const deliver = createDelivery(config, log)

  const reply = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(redact(JSON.stringify(body)), {
      status,
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
    })
  const refuse = (status: number, message: string, headers?: Record<string, string>) =>
    reply(status, { error: REASONS[status], message, code: status }, headers)

  const handleItem = (stop: { outcome?: Outcome }) => async (item: BatchItem): Promise<Outcome> => {
    const json = checkItem(item)
    if (typeof json != 'string') return json
    if (stop.outcome) return stop.outcome
    const outcome = await deliver(json, item.messageId)
    if (STOPS_BATCH(outcome)) stop.outcome ??= outcome
    return outcome
  }

  const handleBatch = async (request: Request, headers: Record<string, string>) => {
    const text = await readBody(request, maxBodyBytes)
    if (typeof text != 'string') return refuse(text.status, text.message, headers)
    const batch = parseBatch(text, maxBatchItems)
    if (!Array.isArray(batch)) return refuse(batch.status, batch.message, headers)
    const outcomes = await mapLimit(batch, concurrency, handleItem({}))
    const retryAfter = latestRetryAfter(outcomes)
    if (retryAfter) headers = { ...headers, 'Retry-After': retryAfter }
    const unreachable = outcomes.filter((outcome) => outcome.unreachable)
    if (unreachable.length) {
      const reasons = [...new Set(unreachable.map((outcome) => outcome.unreachable!.detail))].join(', ')
      log(unreachable.length + ' of ' + outcomes.length + ' calls could not reach the Flameup API: ' + reasons)
    }
    // Nothing got an answer: say so for the whole request, and the browser retries every item.
    if (unreachable.length == outcomes.length) {
      const timedOut = unreachable.every((outcome) => outcome.unreachable!.reason == 'timeout')
      return refuse(
        timedOut ? 504 : 502,
        timedOut ? 'The Flameup API did not answer in time' : 'The Flameup API could not be reached',
        headers,
      )
    }
    const results = batch.map(({ messageId }, index): ProxyItemResult => {
      const { status, person, error } = outcomes[index]
      return status >= 200 && status < 300 ? { messageId, status, ...(person ? { person } : {}) } : { messageId, status, error }
    })
    return reply(200, { results } satisfies ProxyResponseBody, headers)
  }

  return async (request) => {
    try {
      const origin = checkOrigin(request)
      if (request.method == 'OPTIONS') return preflight(origin)
      if (!origin.allowed) return refuse(403, 'This origin may not use the proxy; add it to allowedOrigins', origin.headers)
      if (request.method != 'POST')
        return refuse(405, 'Send batches with POST', { ...origin.headers, Allow: 'POST, OPTIONS' })
      return await handleBatch(request, origin.headers)
    } catch (error) {
      log('unexpected error: ' + String((error as Error)?.stack || error))
      return refuse(500, 'The proxy failed; try again')
    }
  }
}
