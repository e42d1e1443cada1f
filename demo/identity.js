import { card, h } from './dom.js'

/**
 * Asks the page server for the identity proof of `userId`, as a site's login does: its server
 * computes the HMAC-SHA256 of the userId with the proxy's identity secret, which never reaches
 * the page (demo/server.mjs, POST /login).
 */
export const login = async (userId) => {
  const response = await fetch('/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ userId }) })
  if (!response.ok) throw new Error('/login answered ' + response.status)
  return (await response.json()).userHash
}

/**
 * A forged identify: someone else's userId with a made-up userHash, which is what any visitor
 * can send. The proxy refuses it with an item 403, and the SDK drops it (`rejected`, 403)
 * without pausing the calls behind it: the event log shows the drop.
 */
export const forgeryCard = (getClient, log) => {
  const forge = () => {
    const call = 'identify("u_victim", { email: "attacker@evil.example" }, { userHash: "0000…" })'
    const result = getClient().identify('u_victim', { email: 'attacker@evil.example' }, { userHash: '0'.repeat(64) })
    Promise.resolve(result).then(
      () => log.add('queued', call + ' accepted by the SDK; the proxy will refuse it'),
      (problem) => log.add('error', 'identify rejected: ' + problem.message),
    )
  }
  return card(
    'Identity verification',
    'identity-card',
    h(
      'p',
      { class: 'hint' },
      'The proxy runs with ',
      h('code', {}, 'FLAMEUP_IDENTITY_SECRET'),
      '. Logging in asks this page\'s server for ',
      h('code', {}, 'userHash'),
      ', the HMAC-SHA256 of the user id, and passes it to ',
      h('code', {}, 'identify(userId, traits, { userHash })'),
      '. Without the secret nobody can compute it for someone else.',
    ),
    h('button', { type: 'button', id: 'forge', onclick: forge }, 'Send a forged identify for u_victim'),
  )
}
