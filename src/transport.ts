import { parseRetryAfter } from './backoff'
import type { Settings } from './config'
import type { Group, QueuedCall } from './queue'
import { utf8Length } from './validate'

/** What the server said about one group; no status means the request never got an answer. */
export interface Outcome {
  status?: number
  /** The person on success, the API's error body on rejection. */
  body?: any
  retryAfter?: number
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

/** A stuck request would hold the flush lock forever; past this it counts as a network error. */
const REQUEST_TIMEOUT = 30000

const post = async (url: string, init: RequestInit): Promise<Outcome> => {
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT)
  try {
    const response = await fetch(url, { method: 'POST', signal: abort.signal, ...init })
    let body
    try {
      body = await response.json()
    } catch {
      // An empty or non-JSON answer: the status alone decides.
    }
    return { status: response.status, body, retryAfter: parseRetryAfter(response.headers.get('Retry-After'), Date.now()) }
  } catch {
    return {}
  } finally {
    clearTimeout(timer)
  }
}

const wire = ({ messageId, userId, email, traits, timestamp }: QueuedCall) =>
  JSON.stringify({ messageId, userId, email, traits, timestamp })

/** The longest prefix of `groups` within `maxItems` and `budget` bytes; the first group always fits. */
const pack = (groups: Group[], maxItems: number, budget: number) => {
  const parts: string[] = []
  let bytes = 0
  for (const group of groups) {
    const part = wire(group.merged)
    const size = utf8Length(part) + 1
    if (parts.length >= maxItems || (parts.length && bytes + size > budget)) break
    parts.push(part)
    bytes += size
  }
  return { parts, bytes }
}

/**
 * Sends groups and answers one outcome per group sent, in order; groups past the end of the
 * answer were not sent this time.
 */
export const createTransport = (settings: Settings) => {
  const { proxyUrl, batchSize } = settings

  const toProxy = async (groups: Group[], parts: string[]): Promise<Outcome[]> => {
    // A string body goes as text/plain: CORS-simple, so no preflight, and keepalive lets it outlive the page.
    const body = '{"batch":[' + parts.join(',') + '],"sentAt":"' + new Date().toISOString() + '"}'
    const answer = await post(proxyUrl!, { body, keepalive: true })
    const results: any[] | undefined = answer.status == 200 ? answer.body?.results : undefined
    return groups.slice(0, parts.length).map((group): Outcome => {
      // A whole-request answer (403, 413, 502...) applies to every call; a 200 without results is garbage: retry.
      if (!Array.isArray(results)) return answer.status == 200 ? {} : answer
      const result = results.find((item) => item?.messageId == group.merged.messageId)
      return result ? { status: result.status, body: result.person ?? result.error } : {}
    })
  }

  const toApi = (groups: Group[]) =>
    Promise.all(
      groups.slice(0, batchSize).map(({ merged: { userId, email, traits } }) =>
        post(settings.peopleUrl, { headers: settings.headers, body: JSON.stringify({ userId, email, traits }) }),
      ),
    )

  return {
    /** One round: a batch to the proxy, or up to `batchSize` requests to the API. */
    send: (groups: Group[]) => (proxyUrl ? toProxy(groups, pack(groups, batchSize, KEEPALIVE_BUDGET).parts) : toApi(groups)),

    /** For a closing page (proxy mode only): batches that together fit one keepalive budget. */
    sendOnUnload: (groups: Group[]) => {
      const sending: Promise<[Group, Outcome][]>[] = []
      for (let budget = KEEPALIVE_BUDGET; proxyUrl && groups.length; ) {
        const { parts, bytes } = pack(groups, batchSize, budget)
        if ((budget -= bytes + 64) < 0) break
        const chunk = groups.slice(0, parts.length)
        groups = groups.slice(parts.length)
        sending.push(toProxy(chunk, parts).then((outcomes) => outcomes.map((outcome, i) => [chunk[i], outcome])))
      }
      return Promise.all(sending).then((chunks) => chunks.flat())
    },
  }
}
