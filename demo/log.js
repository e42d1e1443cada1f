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

  /** Subscribes to the SDK's events. Through the inline stub, `on` is recorded and replayed. */
  const listen = (client) => {
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
