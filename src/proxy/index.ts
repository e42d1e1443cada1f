import { BROKEN, CANCELLED, CHECK_FAILED, createAnswer, REASONS, REFUSED, type ProxyItemResult } from './answer'
import { parseBatch, readBody, type BatchItem } from './body'
import { createOriginCheck, preflight } from './cors'
import { createDelivery } from './deliver'
import { createIdentityCheck } from './identity'
import { checkItem } from './item'
import { createLimiter, createRateLimit } from './limit'
import { resolveOptions, type ProxyOptions } from './options'
import type { Outcome } from './upstream'

export { createMemoryStore } from './dedupe'
export type { ClaimResult, DedupeStore, DeliveredRecord, MemoryStoreOptions } from './dedupe'
export type { UpstreamRequest, UpstreamResponse, UpstreamSend } from './upstream'
export { createNodeListener } from './node'
export type { NodeListenerOptions, NodeRequest, NodeResponse } from './node'
export type { ProxyOptions } from './options'
export type { ProxyError, ProxyItemResult } from './answer'
export type { Authorize, ProxyCall } from './identity'
export type { RateLimitOptions } from './limit'
export type { Person } from '../types'

/** A Fetch-standard request handler: mount it wherever `(Request) => Promise<Response>` fits. */
export type ProxyHandler = (request: Request) => Promise<Response>

/** The body of a 200 answer. */
export interface ProxyResponseBody {
  results: ProxyItemResult[]
}

const utf8 = new TextEncoder()

/** Seconds a 503 for a full queue asks the browser to wait: slots free up within a call's time. */
const BUSY_RETRY_AFTER = '2'

/** One line whatever the text: control characters (CR, LF, NUL...) written as \u escapes, so no input can forge a log line. */
const oneLine = (line: string) =>
  line.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (char) => '\\u' + char.charCodeAt(0).toString(16).padStart(4, '0'))

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
 * the batch, the client's rate and the proxy's load, validates each call as the SDK does and
 * verifies its identity, sends the valid ones with the API key (bounded concurrency across all
 * requests, a timeout per call, each messageId at most once) and answers per item in batch order
 * with what CONTRACT §6 lets an answer carry.
 */
export const createProxyHandler = (options: ProxyOptions): ProxyHandler => {
  const config = resolveOptions(options)
  const { apiKey, concurrency, maxBodyBytes, maxBatchItems, exposePerson, rateLimit } = config
  // Defence in depth: nothing the proxy writes may carry the key, even if the API echoed it back.
  // A string under 8 characters is no real key and would mangle ordinary text.
  const redact = (text: string) => (apiKey.length >= 8 ? text.split(apiKey).join('[redacted]') : text)
  const log = (line: string) => {
    try {
      config.log(oneLine(redact(line)))
    } catch {
      // A failing logger must not fail the request it reports on.
    }
  }
  const checkOrigin = createOriginCheck(config.allowedOrigins)
  const deliver = createDelivery(config, log)
  const answer = createAnswer(redact)
  const limiter = createLimiter(config.maxConcurrency, config.maxPending)
  const takeRate = rateLimit && createRateLimit(rateLimit.perMinute)
  const verify = createIdentityCheck(config.identitySecret, config.authorize)

  const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body)
    // Errors are redacted field by field; only the API's person could still carry the key.
    return new Response(exposePerson ? redact(text) : text, {
      status,
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
    })
  }
  const refuse = (status: number, message: string, headers?: Record<string, string>) =>
    reply(status, { error: REASONS[status], message, code: status }, headers)

  /**
   * Runs one batch: first every item's checks (validity, then identity), so that no API slot is
   * held while `authorize` thinks; then at most `concurrency` workers, each taking one slot of the
   * shared limiter and keeping it until the batch has no call left to send. Requests thus finish
   * in the order they got slots: under overload the first ones complete and the rest wait or are
   * refused, instead of every batch creeping along together past its client's patience.
   * Memory: the parsed batch is dropped once checked (only the messageIds are kept), and each
   * call's JSON once sent, so that a batch of 30 KB calls waiting for slots holds one copy of
   * each call, not three (issue 10: 12,000 calls of 30 KB under 200 MB).
   */
  const runBatch = async (request: Request, batch: BatchItem[], ids: string[]) => {
    const signal = request.signal ?? null
    const count = ids.length
    const outcomes = new Array<Outcome>(count)
    // Which items passed a configured identity check: only those may show the person.
    const verified = exposePerson && verify ? new Array<boolean>(count).fill(false) : undefined
    const bodies = new Array<Uint8Array<ArrayBuffer> | undefined>(count)
    const checks: Promise<void>[] = []
    for (let index = 0; index < count; index++) {
      const item = batch[index]
      let checked
      try {
        checked = checkItem(item)
      } catch (error) {
        log('unexpected error: ' + String((error as Error)?.stack || error))
        outcomes[index] = BROKEN
        continue
      }
      if (!Array.isArray(checked)) {
        outcomes[index] = checked
        continue
      }
      const [call, json] = checked
      // Held as UTF-8 bytes until sent: outside the JS heap, so a call waiting for a slot is not
      // promoted with the garbage around it (issue 10: 12,000 calls of 30 KB under 200 MB).
      bodies[index] = utf8.encode(json)
      if (verify)
        checks.push(
          verify(request, { messageId: item.messageId, userId: call.userId, email: call.email, traits: call.traits, userHash: item.userHash as string | undefined }).then(
            (passed) => {
              if (!passed) {
                outcomes[index] = REFUSED
                bodies[index] = undefined
              } else if (verified) verified[index] = true
            },
            (error) => {
              log('authorize failed: ' + String((error as Error)?.message || error))
              outcomes[index] = CHECK_FAILED
              bodies[index] = undefined
            },
          ),
        )
    }
    // The items' traits now live on only in their JSON.
    batch.length = 0
    if (checks.length) await Promise.all(checks)

    const sendable: number[] = []
    for (let index = 0; index < count; index++)
      if (bodies[index] === undefined) limiter.done()
      else sendable.push(index)
    let stop: Outcome | undefined
    let next = 0
    const worker = async () => {
      const slot = limiter.acquire(signal)
      if (!(slot === true || (await slot))) return
      try {
        while (next < sendable.length) {
          const index = sendable[next++]
          limiter.done()
          // The client went away, or the batch met a 401, 429 or timeout: the rest is not sent.
          if (signal?.aborted) outcomes[index] = CANCELLED
          else if (stop) outcomes[index] = stop
          else {
            const json = bodies[index]!
            bodies[index] = undefined
            const outcome = await deliver(json, ids[index])
            if (STOPS_BATCH(outcome)) stop ??= outcome
            outcomes[index] = outcome
          }
        }
      } finally {
        limiter.release()
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, sendable.length) }, worker))
    // Left when every worker's wait was cancelled.
    for (; next < sendable.length; next++) {
      limiter.done()
      outcomes[sendable[next]] = CANCELLED
    }
    return { outcomes, verified }
  }

  const handleBatch = async (request: Request, headers: Record<string, string>) => {
    const text = await readBody(request, maxBodyBytes)
    if (typeof text != 'string') return refuse(text.status, text.message, headers)
    const batch = parseBatch(text, maxBatchItems)
    if (!Array.isArray(batch)) return refuse(batch.status, batch.message, headers)
    if (takeRate) {
      const key = rateLimit!.key(request)
      const wait = key === undefined ? 0 : takeRate(key, batch.length)
      if (wait)
        return refuse(429, 'Too many calls from this client; retry in ' + wait + ' s', { ...headers, 'Retry-After': String(wait) })
    }
    if (!limiter.admit(batch.length))
      return refuse(503, 'The proxy is busy; retry in a few seconds', { ...headers, 'Retry-After': BUSY_RETRY_AFTER })
    const ids = batch.map((item) => item.messageId)
    const { outcomes, verified } = await runBatch(request, batch, ids)
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
    const results = ids.map((messageId, index) => answer(messageId, outcomes[index], verified?.[index] ?? false))
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
