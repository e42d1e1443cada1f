import type { Person } from '../types'
import type { Outcome } from './upstream'

/** An error as the proxy answers it: the API's error body shape, and nothing else (CONTRACT §6). */
export interface ProxyError {
  error: string
  /** At most 500 characters. */
  message: string
  code: number
  /** Which field was refused, when the API or the proxy's own validation said so. */
  details?: { field: string; message: string }[]
}

/** The answer for one batch item, in batch order (CONTRACT §6). */
export interface ProxyItemResult {
  messageId: string
  /**
   * 201 for every delivered call, whether the API created the person (201), updated it (200) or
   * the dedupe store answered, so that a stranger cannot tell whether a person existed. Otherwise
   * 400 (invalid, not sent), 401 (the API refused the proxy's key), 403 (identity refused, not
   * sent), 502 (unreachable), 504 (timed out) or the API's own status.
   */
  status: number
  /** The API's person: only with `exposePerson: true` and a verified identity. */
  person?: Person
  /** On failure: why, sanitised. */
  error?: ProxyError
}

/** The status every delivered call is answered with. */
export const DELIVERED = 201

export const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

const MAX_MESSAGE = 500
const MAX_DETAILS = 20

// Control characters (a stack trace's newlines) or the start of a tag (an HTML error page): text
// that did not come from the API's JSON error bodies, whose messages are one line of prose.
const NOT_PROSE = /[\u0000-\u001f\u007f]|<[a-z!/?]/i

const own = (status: number, message: string): Outcome => ({ status, error: { error: REASONS[status], message, code: status } })

/** A call whose identity the proxy refused (identitySecret or authorize): it never reached the API. */
export const REFUSED = own(403, 'The identity of this call could not be verified')
/** `authorize` threw: retryable. */
export const CHECK_FAILED = own(503, 'The identity check failed; try again')
/** The client went away before the call was sent (never read; retryable should it be). */
export const CANCELLED = own(503, 'The request was cancelled before this call was sent')
/** A bug in the proxy. */
export const BROKEN = own(500, 'The proxy failed; try again')

// The proxy's own outcomes, recognised by identity, so that no upstream answer can pass for one.
const OWN = new Set([REFUSED, CHECK_FAILED, CANCELLED, BROKEN])

// What a 5xx says is never actionable in the browser, and gateways fill it with internal host
// names ("upstream connect error ... reset reason"): a 5xx is always answered with these.
const GENERIC: Record<number, string> = {
  502: 'The Flameup API could not be reached',
  503: 'The Flameup API is unavailable; try again later',
  504: 'The Flameup API did not answer in time',
}

const UNAUTHORIZED: ProxyError = {
  error: 'Unauthorized',
  message: "The Flameup API refused the proxy's API key",
  code: 401,
}

/**
 * Builds what reaches the browser for one item from what became of its call (CONTRACT §6 "What
 * an answer may carry"). A 4xx error keeps only `error`, `message` (at most 500 characters),
 * `code` and well-formed `details`, each of them one line of text, with `redact` applied, and
 * only when the API answered JSON of that shape (`outcome.error` is its parsed body); anything
 * else (a text or HTML body however short, stack traces, unknown fields, headers, any 5xx text)
 * becomes a generic body of the same shape. An upstream 401 or 403 is the item's 401: the key is wrong, not the caller.
 */
export const createAnswer = (redact: (text: string) => string) => {
  const prose = (value: unknown, max: number) =>
    typeof value == 'string' && value && !NOT_PROSE.test(value) ? redact(value.length > max ? value.slice(0, max) : value) : undefined

  const sanitise = (status: number, error: unknown): ProxyError => {
    const body = (typeof error == 'object' && error) || {}
    const { error: name, message, code, details } = body as Record<string, unknown>
    const cleanName = prose(name, 100)
    const cleanMessage = prose(message, MAX_MESSAGE)
    if (status >= 500 || !cleanName || !cleanMessage || !Number.isInteger(code))
      return { error: REASONS[status] || 'Error', message: GENERIC[status] || 'The Flameup API answered with status ' + status, code: status }
    const clean: ProxyError = { error: cleanName, message: cleanMessage, code: code as number }
    if (Array.isArray(details)) {
      const kept: { field: string; message: string }[] = []
      for (const detail of details.slice(0, MAX_DETAILS)) {
        const field = prose(detail?.field, 100)
        const text = prose(detail?.message, MAX_MESSAGE)
        if (field && text) kept.push({ field, message: text })
      }
      if (kept.length) clean.details = kept
    }
    return clean
  }

  return (messageId: string, outcome: Outcome, showPerson: boolean): ProxyItemResult => {
    const { status, person } = outcome
    if (status >= 200 && status < 300)
      return showPerson && person && typeof person == 'object' ? { messageId, status: DELIVERED, person } : { messageId, status: DELIVERED }
    if (OWN.has(outcome)) return { messageId, status, error: outcome.error as ProxyError }
    if (status == 401 || status == 403) return { messageId, status: 401, error: UNAUTHORIZED }
    return { messageId, status, error: sanitise(status, outcome.error) }
  }
}
