import type { Person } from '../types'
import type { ResolvedOptions } from './options'

/** What became of one call sent to the API. */
export interface Outcome {
  status: number
  person?: Person
  error?: unknown
  /** The API's Retry-After on a 429 or 503, passed on to the browser. */
  retryAfter?: string
  /** Set when no HTTP answer came back; `detail` says why, for the log only. */
  unreachable?: { reason: 'network' | 'timeout'; detail: string }
}

const TIMEOUT = Symbol('timeout')

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const errorBody = (code: number, error: string, message: string) => ({ error, message, code })

/** Sends one validated call (its JSON, as validateIdentify produced it) to the people endpoint. */
export const createUpstream = ({ apiHost, workspaceId, apiKey, fetch, timeoutMs }: ResolvedOptions) => {
  const url = apiHost + '/api/v1/workspaces/' + encodeURIComponent(workspaceId) + '/people'

  const attempt = async (json: string, messageId: string, signal: AbortSignal): Promise<Outcome> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json',
        Authorization: 'Bearer ' + apiKey,
        // For the API's logs and the local stand-in's request log; the proxy dedupes on its own.
        'X-Flameup-Message-Id': messageId,
      },
      body: json,
      signal,
      // A followed redirect would turn the POST into a GET; no redirect is expected here.
      redirect: 'manual',
    })
    const text = await response.text()
    const { status } = response
    const body = parse(text)
    if (status >= 200 && status < 300) return body && typeof body == 'object' ? { status, person: body as Person } : { status }
    if (status < 400) return { status: 502, error: errorBody(502, 'Bad Gateway', 'The Flameup API answered with a redirect') }
    const retryAfter = (status == 429 || status == 503) && response.headers.get('retry-after')
    return {
      status,
      error: body ?? errorBody(status, response.statusText || 'Error', text.slice(0, 500)),
      ...(retryAfter ? { retryAfter } : {}),
    }
  }

  return async (json: string, messageId: string): Promise<Outcome> => {
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
      if (error === TIMEOUT)
        return {
          status: 504,
          error: errorBody(504, 'Gateway Timeout', 'The Flameup API did not answer within ' + timeoutMs + ' ms'),
          unreachable: { reason: 'timeout', detail: 'no answer within ' + timeoutMs + ' ms' },
        }
      const cause = (error as { cause?: { code?: string; message?: string } })?.cause
      return {
        status: 502,
        error: errorBody(502, 'Bad Gateway', 'The Flameup API could not be reached'),
        unreachable: { reason: 'network', detail: cause?.code || cause?.message || String((error as Error)?.message || error) },
      }
    } finally {
      clearTimeout(timer)
    }
  }
}
