import { parseRetryAfter } from './backoff'
import type { Settings } from './config'
import type { Group, QueuedCall } from './queue'
import { utf8Length } from './validate'

/** What the server said about one group; no status means the request never got an answer. */
export interface Outcome {
  _status?: number
  /** The person on success, the API's error body on rejection. */
  _body?: any
  _retryAfter?: number
}

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

/** Chromium's keepalive budget is 64 KiB for all bodies in flight; the rest is headroom for the envelope. */
export const KEEPALIVE_BUDGET = 64000

/** Bytes of the batch around the calls: `{"batch":[...],"sentAt":"<ISO>"}`. */
const ENVELOPE = 50

/** A stuck request would hold the flush lock forever; past this it counts as a network error. */
const REQUEST_TIMEOUT = 30000

const post = async (url: string, init: RequestInit): Promise<Outcome> => {
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT)
  try {
    const response = await fetch(url, { method: 'POST', signal: abort.signal, ...init })
    return {
      _status: response.status,
      // An empty or non-JSON answer: the status alone decides.
      _body: await response.json().catch(() => {}),
      _retryAfter: parseRetryAfter(response.headers.get('Retry-After'), Date.now()),
    }
  } catch {
    return {}
  } finally {
    clearTimeout(timer)
  }
}

/** One request being sent: how many of the given groups it carries, its bytes, and the answers. */
export interface Sending {
  _count: number
  _bytes: number
  _answers: Promise<Outcome[]>
}

/**
 * Sends the first groups of the list. Proxy mode: one batch of at most `batchSize` calls within
 * `budget` bytes, always keepalive and CORS-simple, so the same request serves a closing page.
 * Direct mode: one request per call, `batchSize` at once. Answers one outcome per group sent.
 */
export const createTransport =
  ({ proxyUrl, batchSize, peopleUrl, headers }: Settings) =>
  (groups: Group[], budget = KEEPALIVE_BUDGET): Sending => {
    if (!proxyUrl) {
      const sent = groups.slice(0, batchSize)
      const answers = sent.map(({ _merged: { userId, email, traits } }) =>
        post(peopleUrl, { headers, body: JSON.stringify({ userId, email, traits }) }),
      )
      return { _count: sent.length, _bytes: 0, _answers: Promise.all(answers) }
    }
    const parts: string[] = []
    let bytes = 0
    for (const { _merged: call } of groups) {
      const part = JSON.stringify({
        messageId: call.messageId,
        userId: call.userId,
        email: call.email,
        traits: call.traits,
        timestamp: call.timestamp,
      } satisfies Partial<QueuedCall>)
      // Validation caps a call at 32 KB, so the first one always fits a whole budget.
      const size = utf8Length(part) + 1
      if (parts.length >= batchSize || bytes + size > budget) break
      parts.push(part)
      bytes += size
    }
    const send = async (): Promise<Outcome[]> => {
      // A string body goes as text/plain: no preflight, and keepalive lets it outlive the page.
      const answer = await post(proxyUrl, {
        body: '{"batch":[' + parts + '],"sentAt":"' + new Date().toISOString() + '"}',
        keepalive: true,
      })
      const results = answer._status == 200 && answer._body?.results
      return groups.slice(0, parts.length).map((group): Outcome => {
        // A whole-request answer (403, 413, 502...) applies to every call; a 200 without results is garbage: retry.
        if (!Array.isArray(results)) return answer._status == 200 ? {} : answer
        const result = results.find((item) => item?.messageId == group._merged.messageId)
        // The proxy passes the API's Retry-After on the whole answer; it applies to the calls that are retried.
        return result ? { _status: result.status, _body: result.person ?? result.error, _retryAfter: answer._retryAfter } : {}
      })
    }
    return { _count: parts.length, _bytes: bytes + ENVELOPE, _answers: parts.length ? send() : Promise.resolve([]) }
  }
