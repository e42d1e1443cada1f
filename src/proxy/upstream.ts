import type { Person } from '../types'
import type { ResolvedOptions } from './options'

/** What became of one call sent to the API. */
export interface Outcome {
  status: number
  person?: Person
  /**
   * Why it failed. From the API: its answer body parsed as JSON, unchecked, or undefined when the
   * body was not JSON (never the body's text: answer.ts alone decides what of it may reach the
   * browser, CONTRACT §6).
   */
  error?: unknown
  /** The API's Retry-After on a 429 or 503, passed on to the browser. */
  retryAfter?: string
  /** Set when no HTTP answer came back; `detail` says why, for the log only. */
  unreachable?: { reason: 'network' | 'timeout'; detail: string }
}

const TIMEOUT = Symbol('timeout')

/** One call for an {@link UpstreamSend}: always a POST of JSON. */
export interface UpstreamRequest {
  url: string
  headers: Record<string, string>
  /** The call's JSON, UTF-8 encoded. */
  body: Uint8Array<ArrayBuffer>
}

/** The API's answer as an {@link UpstreamSend} reports it. */
export interface UpstreamResponse {
  status: number
  /** The `Retry-After` header, when there was one. */
  retryAfter?: string
  /** The whole answer body. */
  text: string
}

/**
 * A lighter way than `fetch` to reach the API, such as `createUndiciSend()` from
 * `flameup/proxy/undici` on Node. It enforces its own time limit and then rejects with an error
 * named `TimeoutError`; any other rejection means the API could not be reached. The handler sets
 * no timer of its own around it.
 */
export type UpstreamSend = (request: UpstreamRequest) => Promise<UpstreamResponse>

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const errorBody = (code: number, error: string, message: string) => ({ error, message, code })

/** Sends one validated call (its JSON, as validateIdentify produced it) to the people endpoint. */
export const createUpstream = ({ apiHost, workspaceId, apiKey, fetch, send, timeoutMs }: ResolvedOptions) => {
  const url = apiHost + '/api/v1/workspaces/' + encodeURIComponent(workspaceId) + '/people'
  const headersOf = (messageId: string) => ({
    'Content-Type': 'application/json',
    Accept: 'application/json',
    Authorization: 'Bearer ' + apiKey,
    // For the API's logs and the local stand-in's request log; the proxy dedupes on its own.
    'X-Flameup-Message-Id': messageId,
  })

  const attempt = async (json: Uint8Array<ArrayBuffer>, messageId: string, signal: AbortSignal): Promise<Outcome> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: headersOf(messageId),
      body: json,
      signal,
      // A followed redirect would turn the POST into a GET; no redirect is expected here.
      redirect: 'manual',
    })
    const text = await response.text()
    return outcomeOf(response.status, text, () => response.headers.get('retry-after') || undefined)
  }

  const outcomeOf = (status: number, text: string, retryAfterOf: () => string | undefined): Outcome => {
    const body = parse(text)
    if (status >= 200 && status < 300) return body && typeof body == 'object' ? { status, person: body as Person } : { status }
    if (status < 400) return { status: 502, error: errorBody(502, 'Bad Gateway', 'The Flameup API answered with a redirect') }
    const retryAfter = (status == 429 || status == 503) && retryAfterOf()
    // Text that is not JSON (a gateway's page, a one-line "no route to host-7") is not the API's
    // error body: it stays here, and the answer says only the status.
    return retryAfter ? { status, error: body, retryAfter } : { status, error: body }
  }

  const unreachable = (error: unknown): Outcome => {
    const cause = (error as { cause?: { code?: string; message?: string } })?.cause
    return {
      status: 502,
      error: errorBody(502, 'Bad Gateway', 'The Flameup API could not be reached'),
      unreachable: { reason: 'network', detail: cause?.code || cause?.message || String((error as Error)?.message || error) },
    }
  }
  const timedOut = (): Outcome => ({
    status: 504,
    error: errorBody(504, 'Gateway Timeout', 'The Flameup API did not answer within ' + timeoutMs + ' ms'),
    unreachable: { reason: 'timeout', detail: 'no answer within ' + timeoutMs + ' ms' },
  })

  // The sender keeps its own time limits: no AbortController, timer or race per call.
  if (send) {
    const sendOnce = async (json: Uint8Array<ArrayBuffer>, messageId: string) => {
      const response = await send({ url, headers: headersOf(messageId), body: json })
      return outcomeOf(response.status, response.text, () => response.retryAfter)
    }
    const isTimeout = (error: unknown) => (error as Error)?.name == 'TimeoutError'
    return async (json: Uint8Array<ArrayBuffer>, messageId: string): Promise<Outcome> => {
      try {
        // One immediate retry absorbs a keep-alive socket closed by the API while idle (see below).
        return await sendOnce(json, messageId).catch((error) => {
          if (isTimeout(error)) throw error
          return sendOnce(json, messageId)
        })
      } catch (error) {
        return isTimeout(error) ? timedOut() : unreachable(error)
      }
    }
  }

  return async (json: Uint8Array<ArrayBuffer>, messageId: string): Promise<Outcome> => {
    const controller = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    // Racing a timer, not only aborting: a fetch that ignores its signal must not hold the batch.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(TIMEOUT)
        controller.abort()
      }, timeoutMs)
    })
    // A keep-alive socket that the API closed while it sat idle fails the next call at once. One
    // immediate retry on a fresh connection absorbs that race; the same call sent twice creates or
    // updates the same person, so a retry of one that did arrive does no harm.
    const attempts = () =>
      attempt(json, messageId, controller.signal).catch((error) => {
        if (controller.signal.aborted) throw error
        return attempt(json, messageId, controller.signal)
      })
    try {
      return await Promise.race([attempts(), deadline])
    } catch (error) {
      return error === TIMEOUT ? timedOut() : unreachable(error)
    } finally {
      clearTimeout(timer)
    }
  }
}
