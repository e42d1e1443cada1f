/** Full-jitter exponential backoff: a random delay in [0, min(max, base * 2^attempt)]. */
export const backoff = (attempt: number, base: number, max: number, rand = Math.random) =>
  rand() * Math.min(max, base * 2 ** attempt)

/**
 * Milliseconds a `Retry-After` header asks to wait (delta-seconds or an HTTP date), or undefined
 * when it is missing or unreadable. A date in the past means "now".
 */
export const parseRetryAfter = (header: string | null | undefined, now: number): number | undefined => {
  // NaN (an unreadable date) stays NaN through Math.max, and fails `>= 0`.
  const wait = Math.max(0, isNaN(+header!) ? Date.parse(header!) - now : +header! * 1000)
  if (header && wait >= 0) return wait
}
