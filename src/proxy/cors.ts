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
