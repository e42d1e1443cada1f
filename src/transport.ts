import { parseRetryAfter } from './backoff'
import type { Settings } from './config'
import type { Group } from './queue'
import { utf8Length } from './validate'

/** What the server said about one group: status, then the person or the API's error body, then Retry-After in ms. No status: no answer at all. */
export type Outcome = [status?: number, body?: any, retryAfter?: number]

export type Verdict = 'delivered' | 'rejected' | 'retry' | 'pause'

/** Contract §4 in one place: what a status (0 for no answer at all) means for a queued call. */
export const verdictOf = (status = 0): Verdict =>
  status >= 200 && status < 300
    ? 'delivered'
    : status == 401 || status == 403
      ? 'pause'
      : status >= 400 && status < 500 && status != 408 && status != 429
        ? 'rejected'
        : 'retry'

/** Chromium's keepalive budget is 64 KiB for all bodies in flight; the rest is headroom. */
export const KEEPALIVE_BUDGET = 64000

/** Bytes of the batch around the calls: `{"batch":[...],"sentAt":"<ISO>"}`. */
const ENVELOPE = 50

const post = async (url: string, init: RequestInit): Promise<Outcome> => {
  try {
    // A stuck request would hold the flush lock forever: past 30 s it counts as a network error.
    const response = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(3e4), ...init })
    return [
      response.status,
      // An empty or non-JSON answer: the status alone decides.
      await response.json().catch(() => {}),
      parseRetryAfter(response.headers.get('Retry-After'), Date.now()),
    ]
  } catch {
    return []
  }
}

/** One request planned: how many of the given groups it carries, its bytes, and what sends it. */
export type Sending = [count: number, bytes: number, send: () => Promise<Outcome[]>]

/**
 * Plans a request for the first groups of the list. Proxy mode: one batch of at most `batchSize`
 * calls within `budget` bytes, always keepalive and CORS-simple, so the same request serves a
 * closing page. Direct mode: one request per call, `batchSize` at once. Sending answers one
 * outcome per group sent.
 */
export const createTransport =
  ({ proxyUrl, batchSize, peopleUrl, headers }: Settings) =>
  (groups: Group[], budget = KEEPALIVE_BUDGET): Sending => {
    if (!proxyUrl) {
      const sent = groups.slice(0, batchSize)
      return [
        sent.length,
        0,
        () =>
          Promise.all(
            sent.map(({ _merged: { userId, email, traits } }) => post(peopleUrl, { headers, body: JSON.stringify({ userId, email, traits }) })),
          ),
      ]
    }
    const parts: string[] = []
    let bytes = ENVELOPE
    for (const { _merged: { messageId, userId, email, traits, timestamp } } of groups) {
      const part = JSON.stringify({ messageId, userId, email, traits, timestamp })
      // Validation caps a call at 32 KB, so the first one always fits a whole budget.
      const size = utf8Length(part) + 1
      if (parts.length >= batchSize || bytes + size > budget) break
      parts.push(part)
      bytes += size
    }
    const send = async () => {
      // A string body goes as text/plain: no preflight, and keepalive lets it outlive the page.
      const answer = await post(proxyUrl, { body: '{"batch":[' + parts + '],"sentAt":"' + new Date().toISOString() + '"}', keepalive: true })
      const results = answer[1]?.results
      return groups.slice(0, parts.length).map(({ _merged: { messageId } }): Outcome => {
        // A whole-request answer (403, 413, 502...) applies to every call.
        if (answer[0] != 200) return answer
        // A 200 without this call's result is garbage: retry it.
        const result = Array.isArray(results) && results.find((item) => item?.messageId == messageId)
        // The proxy passes the API's Retry-After on the whole answer; it applies to the calls that are retried.
        return result ? [result.status, result.person ?? result.error, answer[2]] : []
      })
    }
    return [parts.length, bytes, send]
  }
