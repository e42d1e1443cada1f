import { h } from './dom.js'

const LIMIT = 50
const short = (id) => (id ? String(id).slice(0, 8) : '')

/**
 * The event log: newest first, at most LIMIT entries. Only the newest JSON block stays open so
 * the latest person is readable without scrolling.
 */
export const createLog = () => {
  const list = h('ol', { class: 'log', id: 'log', 'aria-live': 'polite' })
  const empty = h('p', { class: 'hint', id: 'log-empty' }, 'Nothing yet. Log in to send an identify call.')

  const add = (kind, summary, data) => {
    for (const open of list.querySelectorAll('details[open]')) open.open = false
    const details = data === undefined ? null : h('details', { open: true }, h('summary', {}, 'JSON'), h('pre', {}, JSON.stringify(data, null, 2)))
    list.prepend(
      h(
        'li',
        { class: 'entry', 'data-kind': kind },
        h('span', { class: 'badge' }, kind),
        h('span', { class: 'summary' }, summary),
        h('time', {}, new Date().toLocaleTimeString()),
        details,
      ),
    )
    while (list.children.length > LIMIT) list.lastElementChild.remove()
    empty.hidden = true
  }

  /**
   * Subscribes to the SDK's events (through the inline stub, `on` is recorded and replayed) and
   * shows each attempt the page makes.
   */
  const listen = (client) => {
    watchAttempts({ add })
    client.on('delivered', ({ userId, messageId, person }) =>
      add('delivered', userId + ' delivered (message ' + short(messageId) + ')', person ?? { messageId }),
    )
    client.on('dropped', ({ userId, messageId, reason, status, error }) =>
      add('dropped', userId + ' dropped: ' + reason + (status ? ' (' + status + ')' : ''), error ?? { messageId, reason }),
    )
    client.on('paused', ({ reason }) =>
      add('paused', reason == 'offline' ? 'Paused: the browser is offline' : 'Paused: the proxy answered unauthorized'),
    )
  }

  return { element: h('div', {}, empty, list), add, listen }
}

const clock = (ms) => new Date(ms).toLocaleTimeString()

/** The calls of a batch body as sent to the proxy ({batch: [...]}), or [] for anything else. */
const callsOf = (body) => {
  try {
    return typeof body == 'string' ? JSON.parse(body).batch || [] : []
  } catch {
    return []
  }
}

/** "2×201, 1×400" from the proxy's per-item results. */
const tally = (results) => {
  const counts = {}
  for (const { status } of results) counts[status] = (counts[status] || 0) + 1
  return Object.entries(counts).map(([status, count]) => count + '×' + status).join(', ')
}

/**
 * The SDK's queue records (`attempts`, `nextAt`) by messageId, read straight from its IndexedDB
 * store. Never creates the database (an upgrade is aborted), and closes at once so that it never
 * holds up a logout's deleteDatabase or the SDK.
 */
const readQueue = () =>
  new Promise((resolve) => {
    const byId = new Map()
    const open = indexedDB.open('flameup')
    open.onupgradeneeded = () => open.transaction.abort()
    open.onerror = () => resolve(byId)
    open.onsuccess = () => {
      const db = open.result
      db.onversionchange = () => db.close()
      try {
        const all = db.transaction('queue').objectStore('queue').getAll()
        all.onsuccess = () => {
          for (const record of all.result) if (record?.messageId) byId.set(record.messageId, record)
          db.close()
          resolve(byId)
        }
        all.onerror = () => (db.close(), resolve(byId))
      } catch {
        db.close()
        resolve(byId)
      }
    }
  })

/**
 * Shows every delivery attempt of this page: what it POSTed to `path` (the users of the batch) and
 * what came back, the whole answer's status and each call's, then, for calls that stay queued,
 * their attempt count and next retry time as the SDK stored them. The SDK has no per-attempt event
 * (its bytes go to delivery), so the demo watches its own page's requests: it wraps `fetch`.
 */
export const watchAttempts = (log, path = '/flameup') => {
  const original = window.fetch
  let attempt = 0
  window.fetch = function (input, init) {
    const url = new URL(typeof input == 'string' ? input : input.url, location.href)
    const answer = original.apply(this, arguments)
    if (url.pathname != path || init?.method != 'POST') return answer
    const number = ++attempt
    const calls = callsOf(init.body)
    const users = calls.map((call) => call.userId).join(', ') || '?'
    const sent = 'attempt ' + number + ': ' + calls.length + ' call' + (calls.length == 1 ? '' : 's') + ' [' + users + ']'
    const later = (summary, data) =>
      // The SDK stores each call's next attempt once it has handled the answer.
      setTimeout(async () => {
        const queue = await readQueue()
        const waiting = calls.map((call) => queue.get(call.messageId)).filter(Boolean)
        const next = waiting.length ? Math.min(...waiting.map((record) => record.nextAt)) : 0
        const retry = !waiting.length ? '' : next > Date.now() ? '; next retry ' + clock(next) + ' (in ' + Math.ceil((next - Date.now()) / 1000) + ' s), attempt ' + (Math.max(...waiting.map((record) => record.attempts)) + 1) : '; retry when due'
        log.add('attempt', sent + ' → ' + summary + retry, data)
      }, 300)
    answer.then(
      (response) =>
        response
          .clone()
          .json()
          .catch(() => undefined)
          .then((body) => {
            const results = Array.isArray(body?.results) ? body.results : []
            const retryAfter = response.headers.get('retry-after')
            later(response.status + (results.length ? ' (' + tally(results) + ')' : '') + (retryAfter ? ', Retry-After ' + retryAfter + ' s' : ''), body)
          }),
      (error) => later('network error: ' + (error?.message || error)),
    )
    return answer
  }
}
