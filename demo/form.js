import { card, h } from './dom.js'
import { login } from './identity.js'

const TRAITS = ['email', 'first_name', 'plan']

const field = (label, name, props = {}) =>
  h('label', { for: name }, h('span', {}, label), h('input', { id: name, name, autocomplete: 'off', ...props }))

/**
 * The login form. Submitting logs in (the page server answers the identity proof, `userHash`) and
 * calls `identify(userId, { email, first_name, plan }, { userHash })` with the filled-in traits.
 * `novalidate` leaves the checks to the SDK, so a bad email shows its FlameupError.
 */
export const loginCard = (getClient, log) => {
  const error = h('p', { class: 'form-error', id: 'form-error', role: 'alert', hidden: true })
  const form = h(
    'form',
    { id: 'login', novalidate: true },
    field('User id', 'userId', { placeholder: 'u_123' }),
    field('Email', 'email', { placeholder: 'ann@example.com', inputmode: 'email' }),
    field('First name', 'first_name', { placeholder: 'Ann' }),
    h(
      'label',
      { for: 'plan' },
      h('span', {}, 'Plan'),
      h('select', { id: 'plan', name: 'plan' }, ...['', 'free', 'pro', 'team'].map((plan) => h('option', { value: plan }, plan || '(none)'))),
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
  )

  const showError = (problem) => {
    const named = problem?.name == 'FlameupError'
    error.replaceChildren(
      h('strong', {}, named ? 'FlameupError' : 'Error'),
      named ? h('code', {}, problem.code) : null,
      problem?.field ? h('span', {}, ' field ', h('code', {}, problem.field)) : null,
      h('span', {}, ': ' + (problem?.message || String(problem))),
    )
    error.hidden = false
    const input = problem?.field && form.elements[problem.field.split('.').pop()]
    if (input) input.setAttribute('aria-invalid', 'true')
    log.add('error', 'identify rejected: ' + (problem?.message || String(problem)))
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    error.hidden = true
    for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid')
    const data = new FormData(form)
    const userId = String(data.get('userId')).trim()
    const traits = {}
    for (const key of TRAITS) {
      const value = String(data.get(key) || '').trim()
      if (value) traits[key] = value
    }
    const call = 'identify(' + JSON.stringify(userId) + ', ' + JSON.stringify(traits) + ', { userHash })'
    let result
    try {
      const userHash = await login(userId)
      result = getClient().identify(userId, traits, { userHash })
    } catch (problem) {
      return showError(problem)
    }
    // The inline stub records the call and returns nothing; the SDK replays it once loaded.
    if (typeof result?.then != 'function') return log.add('queued', call + ' recorded by the stub')
    // identify resolves 'queued', 'skipped' (unchanged within 24 h) or 'opted_out' (CONTRACT §3).
    result.then((outcome) => log.add(outcome || 'queued', call + ' resolved ' + JSON.stringify(outcome ?? 'queued')), showError)
  })

  return card(
    'Log in',
    'login-card',
    form,
    error,
    h(
      'p',
      { class: 'hint' },
      'Calls ',
      h('code', {}, 'flameup.identify(userId, { email, first_name, plan }, { userHash })'),
      '. Try an empty user id or a bad email to see a FlameupError. An unchanged repeat within 24 h is accepted but not sent again.',
    ),
  )
}
