import { h } from './dom.js'
import { loginCard } from './form.js'
import { forgeryCard } from './identity.js'
import { createLog } from './log.js'
import { queueCard } from './queue.js'
import { faultsCard, peopleCard } from './stand-in.js'

/**
 * Builds the demo panels into `root` around a Flameup client. `getClient` is read on every use:
 * on the script-tag page `window.flameup` is the stub until the SDK loads, then the client.
 */
export const mountDemo = (root, getClient, { faults = true } = {}) => {
  const log = createLog()
  log.listen(getClient())
  root.replaceChildren(
    h(
      'div',
      { class: 'column' },
      loginCard(getClient, log),
      forgeryCard(getClient, log),
      queueCard(getClient, log),
      faults ? faultsCard(log) : null,
    ),
    h('section', { class: 'card', id: 'log-card' }, h('h2', {}, 'Events'), log.element),
    peopleCard(log),
  )
}
