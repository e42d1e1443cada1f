import { card, every, h } from './dom.js'

/** Fault presets for the stand-in. Each replaces the previous faults. */
const MODES = [
  ['healthy', 'Healthy', {}],
  ['fails', 'Fails 50%', { failRate: 0.5 }],
  ['slow', 'Slow (2 s)', { latencyMs: 2000 }],
  ['down', 'Network down (API unreachable)', { down: true }],
]

const modeOf = (faults) =>
  faults.down ? 'down' : faults.failRate > 0 ? 'fails' : faults.latencyMs > 0 ? 'slow' : Object.keys(faults).length ? 'custom' : 'healthy'

const control = async (path, body) => {
  const response = await fetch('/api-control/' + path, body && { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  if (!response.ok) throw new Error(path + ' answered ' + response.status)
  return response.status == 204 ? undefined : response.json()
}

/**
 * Buttons that change how the API stand-in behind the proxy answers. The page cannot take the
 * browser offline, so "network down" makes the API unreachable instead; the proxy then answers
 * 502 and the SDK backs off and retries.
 */
export const faultsCard = (log) => {
  const buttons = MODES.map(([mode, label, faults]) =>
    h('button', {
      type: 'button',
      'data-mode': mode,
      'aria-pressed': 'false',
      onclick: () =>
        control('__control', faults).then(
          () => (show(mode), log.add('info', 'API stand-in: ' + label)),
          (problem) => log.add('error', problem.message),
        ),
    }, label),
  )
  const show = (mode) => {
    for (const button of buttons) button.setAttribute('aria-pressed', String(button.dataset.mode == mode))
  }
  // Another tab may change the faults too: follow the stand-in's state.
  every(1000, async () => show(modeOf(await control('__control'))))

  return card(
    'API stand-in',
    'api-card',
    h('div', { class: 'modes', role: 'group', 'aria-label': 'How the API answers' }, buttons),
    h(
      'p',
      { class: 'hint' },
      'Failed calls stay queued and are retried with backoff, so after "Healthy" they may take a few seconds to arrive. Real browser offline mode is covered by the Chromium tests.',
    ),
  )
}

const cells = (person) => [
  person.external_id,
  person.email ?? '',
  person.first_name ?? '',
  person.attributes?.plan ?? '',
  person.updated_at ? new Date(person.updated_at).toLocaleTimeString() : '',
]

/** The people the stand-in holds, refreshed every second. */
export const peopleCard = (log) => {
  const body = h('tbody', { id: 'people' })
  const count = h('span', { class: 'pill', id: 'people-count' }, '0')
  let last = ''
  every(1000, async () => {
    const people = await control('__people')
    const text = JSON.stringify(people)
    if (text == last) return
    last = text
    count.textContent = String(people.length)
    body.replaceChildren(
      ...(people.length
        ? people.map((person) => h('tr', { 'data-user-id': person.external_id }, cells(person).map((value) => h('td', {}, String(value)))))
        : [h('tr', {}, h('td', { colspan: 5, class: 'hint' }, 'No people yet.'))]),
    )
  })
  const reset = () => control('__reset', {}).then(() => log.add('info', 'API stand-in reset: no people, no faults'))

  return h(
    'section',
    { class: 'card wide', id: 'people-card' },
    h('h2', {}, 'People in the API stand-in ', count, h('button', { type: 'button', class: 'small', id: 'reset', onclick: reset }, 'Reset')),
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, ['User id', 'Email', 'First name', 'Plan', 'Updated'].map((title) => h('th', {}, title)))),
      body,
    ),
  )
}
