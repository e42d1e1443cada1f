import { FlameupError } from '../errors'

export interface OriginCheck {
  allowed: boolean
  /** Headers every answer to this request carries. */
  headers: Record<string, string>
}

/**
 * Decides whether the page that sent a request may use the proxy. A missing Origin header is a
 * server or a same-origin GET-like request, and an Origin equal to the proxy's own is the page the
 * proxy is mounted in; both are allowed. Anything else must be listed.
 */
export const createOriginCheck = (allowedOrigins: readonly string[] | '*') => (request: Request): OriginCheck => {
  const origin = request.headers.get('origin')
  if (origin == null) return { allowed: true, headers: {} }
  const allowed = allowedOrigins == '*' || allowedOrigins.includes(origin) || origin == new URL(request.url).origin
  return {
    allowed,
    // Echoed even when refused, so the page can read the 403 and stop instead of retrying an opaque
    // network error forever. Retry-After is not CORS-safelisted and must be exposed to be read.
    headers: {
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Expose-Headers': 'Retry-After',
      Vary: 'Origin',
    },
  }
}

/** Answers a CORS preflight: 204 with what the browser SDK needs for allowed origins, 403 otherwise. */
export const preflight = (check: OriginCheck): Response =>
  check.allowed
    ? new Response(null, {
        status: 204,
        headers: {
          ...check.headers,
          Allow: 'POST, OPTIONS',
          'Access-Control-Allow-Methods': 'POST',
          'Access-Control-Allow-Headers': 'Content-Type',
          // Chromium caps this at two hours; it spares a preflight per flush.
          'Access-Control-Max-Age': '7200',
        },
      })
    : new Response(null, { status: 403, headers: { Vary: 'Origin' } })

/**
 * The `allowedOrigins` option as the origin check compares it: each entry an origin as browsers send
 * it in `Origin` (lowercase scheme and host, no default port, no trailing slash), or `'*'` for any.
 * Takes an array or a comma-separated string. Throws `FlameupError` `invalid_config` naming the first
 * entry that is not an http(s) origin, e.g. `shop.example` without its scheme (issue 12: such an
 * entry was accepted and every request from that shop was then a silent 403).
 */
export const normaliseOrigins = (listed: readonly string[] | string): readonly string[] | '*' => {
  const origins = (typeof listed == 'string' ? listed.split(',') : listed).map((entry) => String(entry).trim()).filter(Boolean)
  if (origins.includes('*')) return '*'
  return origins.map((entry) => {
    let url: URL | undefined
    try {
      url = new URL(entry)
    } catch {}
    // `new URL('localhost:3000')` parses as the scheme "localhost:", hence the explicit `scheme://`.
    if (!/^https?:\/\//i.test(entry) || !url || url.pathname != '/' || url.search || url.hash || url.username || url.password)
      throw new FlameupError('invalid_config', 'allowedOrigins', 'allowedOrigins entry "' + entry + '" is not an origin: write it as https://host[:port]')
    return url.origin
  })
}
