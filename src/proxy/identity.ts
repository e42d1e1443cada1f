/** One validated call as `authorize` sees it. */
export interface ProxyCall {
  messageId: string
  userId: string
  email?: string
  traits: Record<string, unknown>
  /** The proof the browser sent with the call, if any. */
  userHash?: string
}

/**
 * The site's own identity check: resolve `true` to let `call` through, e.g. when the session
 * cookie's user is `call.userId` (a same-origin proxy receives the site's cookies). Anything
 * else refuses the call with 403; a throw or rejection answers it 503, which the browser retries.
 */
export type Authorize = (request: Request, call: ProxyCall) => boolean | Promise<boolean>

const HEX = /^[0-9a-f]{64}$/

/**
 * The identity check of CONTRACT §6, or undefined when neither option is set (any identity
 * passes). With `identitySecret`, `userHash` must be the lowercase hex HMAC-SHA256 of the
 * `userId` keyed with the secret (as in Intercom's identity verification), computed with Web
 * Crypto so it runs on every runtime and compared in constant time; with `authorize`, that must
 * resolve `true` too. The key is imported once, on first use.
 */
export const createIdentityCheck = (identitySecret: string | undefined, authorize: Authorize | undefined) => {
  if (!identitySecret && !authorize) return undefined
  const encoder = new TextEncoder()
  let key: Promise<CryptoKey> | undefined

  const signed = async (userId: string, userHash: string | undefined) => {
    // The format says nothing about the secret: checking it first leaks no timing.
    if (!userHash || !HEX.test(userHash)) return false
    key ??= crypto.subtle.importKey('raw', encoder.encode(identitySecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await key, encoder.encode(userId)))
    // Every byte is compared whatever the first difference: no early exit to time.
    let difference = 0
    for (let i = 0; i < 32; i++) difference |= mac[i] ^ parseInt(userHash.slice(i * 2, i * 2 + 2), 16)
    return difference == 0
  }

  return async (request: Request, call: ProxyCall): Promise<boolean> =>
    (!identitySecret || (await signed(call.userId, call.userHash))) && (!authorize || (await authorize(request, call)) === true)
}
