import { parseRetryAfter } from './backoff'
import type { Settings } from './config'
import type { Group } from './queue'
import { utf8Length } from './validate'

/**
 * What the server said about one group: status, then the person or the API's error body, then
 * Retry-After in ms, then whether the status is the group's own item in a proxy answer. No status: no answer at all.
 */
export type Outcome = [status?: number, body?: any, retryAfter?: number, item?: boolean]

/** Verdicts, small numbers so that the bundle compares constants. */
export const ACCEPTED = 0
export const REJECTED = 1
export const RETRY = 2
export const PAUSE = 3

/**
 * Contract §4 and §4a in one place: what a status (0 for no answer at all) means for a queued call.
 * `item`: the status is one item's in a proxy answer, where 403 is the proxy refusing that call's
 * identity (a drop), while 401 still means the API refused the proxy's key (a pause).
 */
export const verdictOf = (status = 0, item?: boolean, hundreds = (status / 100) | 0) =>
  hundreds == 2
    ? ACCEPTED
    : status == 401 || (status == 403 && !item)
      ? PAUSE
      : hundreds == 4 && status != 408 && status != 429
        ? REJECTED
        : RETRY

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

/**
 * One request sent: the groups it carries (the first of those given), its keepalive bytes (0 when
 * it went without keepalive), and one outcome per group.
 */
export type Sending = [sent: Group[], bytes: number, answers: Promise<Outcome[]>]

/**
 * Sends a request for the first groups of the list. Proxy mode: one batch of at most `batchSize`
 * calls and KEEPALIVE_BUDGET bytes, keepalive when it fits the `room` left by this page's
 * keepalive requests in flight (Chromium refuses a keepalive request past 64 KiB in all), and
 * always CORS-simple, so the same request serves a closing page. `closing`: only what fits the
 * room goes, nothing when not even the first call fits. A whole-request 413 (the proxy or a gateway
 * before it found the body too large) splits the batch in halves, sent again, down to single calls
 * (contract §4a). Direct mode: one request per call, `batchSize` at once.
 */
export const createTransport =
  ({ proxyUrl, batchSize, _peopleUrl, apiKey }: Settings) =>
  (groups: Group[], room = KEEPALIVE_BUDGET, closing?: boolean): Sending | undefined => {
    let sent = groups.slice(0, batchSize)
    if (!proxyUrl)
      return [
        sent,
        0,
        Promise.all(
          sent.map(({ userId, email, traits }) =>
            post(_peopleUrl, {
              // A custom apiHost may go without a key (its gateway adds one).
              headers: { 'Content-Type': 'application/json', ...(apiKey && { Authorization: 'Bearer ' + apiKey }) },
              body: JSON.stringify({ userId, email, traits }),
            }),
          ),
        ),
      ]
    const parts: string[] = []
    let bytes = ENVELOPE
    for (const { messageId, userId, email, traits, timestamp, userHash } of sent) {
      // userHash is for the proxy's identity check only: the direct-mode body above never has it.
      const part = JSON.stringify({ messageId, userId, email, traits, timestamp, userHash })
      const size = utf8Length(part) + 1
      // A user's merged calls can outgrow the whole budget: alone in a flush's batch it still goes,
      // without keepalive, rather than block the queue. A closing page sends only what fits.
      if (bytes + size > (closing ? room : KEEPALIVE_BUDGET) && (parts[0] || closing)) break
      parts.push(part)
      bytes += size
    }
    sent = sent.slice(0, parts.length)
    const keepalive = bytes <= room
    /** Posts the calls from..to (a string body goes as text/plain: no preflight; keepalive lets it outlive the page). */
    const batch = (from: number, to: number): Promise<Outcome[]> =>
      post(proxyUrl, { body: '{"batch":[' + parts.slice(from, to) + '],"sentAt":"' + new Date().toISOString() + '"}', keepalive }).then((answer) =>
        // Too large for the proxy or a gateway: each half again (a single call too large alone is rejected).
        answer[0] == 413 && to - from > 1
          ? Promise.all([batch(from, (to + from) >> 1), batch((to + from) >> 1, to)]).then((halves) => halves.flat())
          : sent.slice(from, to).map(({ messageId }): Outcome => {
              // A whole-request answer (401, 403, 502, a 413 for one call...) applies to every call.
              if (answer[0] != 200) return answer
              // A 200 without this call's result (or without a list of results) is garbage: retry it.
              const result = answer[1]?.results?.find?.((item: any) => item?.messageId == messageId)
              // The proxy passes the API's Retry-After on the whole answer; it applies to the calls that are retried.
              return result ? [result.status, result.person ?? result.error, answer[2], true] : []
            }),
      )
    if (parts[0]) return [sent, keepalive ? bytes : 0, batch(0, parts.length)]
  }
