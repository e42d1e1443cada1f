import { card, every, h } from './dom.js'

/**
 * The queue: how many calls wait (polled every 500 ms once the SDK has loaded; the stub has no
 * `pending`), a flush button, and a button that opens the same page in another tab.
 */
export const queueCard = (getClient, log) => {
  const pending = h('output', { id: 'pending' }, '–')
  const state = h('span', { class: 'pill', id: 'sdk-state' }, 'loading')

  every(500, async () => {
    const client = getClient()
    if (typeof client?.pending != 'function') return
    state.textContent = 'SDK ready'
    state.dataset.ready = ''
    pending.textContent = String(await client.pending())
  })

  const flush = () => {
    log.add('info', 'flush() requested')
    getClient().flush()?.catch?.((problem) => log.add('error', 'flush failed: ' + problem.message))
  }

  return card(
    'Queue',
    'queue-card',
    h('p', { class: 'stat' }, pending, h('span', {}, ' pending'), state),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', id: 'flush', onclick: flush }, 'Flush now'),
      h('button', { type: 'button', id: 'second-tab', onclick: () => window.open(location.href, '_blank') }, 'Open a second tab'),
    ),
    h(
      'p',
      { class: 'hint' },
      'Tabs of this origin share one queue in IndexedDB and only one of them sends at a time, so a delivery shows in the log of the tab that sent it.',
    ),
  )
}
