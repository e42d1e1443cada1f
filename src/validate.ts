import { FlameupError } from './errors'
import type { Traits } from './types'

/** A validated identify call as the API's body wants it. */
export interface IdentifyCall {
  userId: string
  email?: string
  traits: Record<string, unknown>
}

/** Most bytes of JSON one call may take (contract §3). */
export const MAX_CALL_BYTES = 32768

// Deliberately loose: one "@", a dot in the domain, no spaces. The API has the final say.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

const invalid = (field: string, message: string) => new FlameupError('invalid_argument', field, message)

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (!value || typeof value != 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** UTF-8 length; only encodes when the string could be near the limit. */
export const utf8Length = (text: string) =>
  text.length * 3 <= MAX_CALL_BYTES ? text.length : new TextEncoder().encode(text).length

/**
 * Checks one identify call. Returns the call and its JSON (reused for the size check and the
 * unchanged-call hash, so identify does no second JSON pass), or throws a FlameupError.
 */
export const validateIdentify = (userId: unknown, traits?: unknown): [IdentifyCall, string] => {
  if (typeof userId != 'string' || !userId.trim()) throw invalid('userId', 'userId must be a non-empty string')
  if (userId.length > 255) throw invalid('userId', 'userId is over 255 characters')
  if (userId == 'undefined' || userId == 'null') throw invalid('userId', 'userId is "' + userId + '"')
  if (traits !== undefined && !isPlainObject(traits)) throw invalid('traits', 'traits must be a plain object')
  const { email, ...rest } = (traits || {}) as Traits
  if (email !== undefined && (typeof email != 'string' || !EMAIL.test(email))) throw invalid('email', 'email is malformed')
  const call: IdentifyCall = { userId, email, traits: rest }
  let json: string
  try {
    // The replacer sees values JSON.stringify would silently drop (functions, symbols) or throw on (bigint).
    json = JSON.stringify(call, (key, value) => {
      const type = typeof value
      if (type == 'function' || type == 'symbol' || type == 'bigint') throw invalid('traits.' + key, key + ' cannot be sent as JSON')
      return value
    })
  } catch (error) {
    throw error instanceof FlameupError ? error : invalid('traits', 'traits cannot be sent as JSON (a cycle?)')
  }
  if (utf8Length(json) > MAX_CALL_BYTES) throw invalid('traits', 'the call is over 32 KB of JSON')
  return [call, json]
}
