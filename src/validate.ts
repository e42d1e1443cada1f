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

const invalid = (field: string, why: string) => new FlameupError('invalid_argument', field, field + ' ' + why)

/** Bytes of a string in UTF-8, as it goes on the wire. */
export const utf8Length = (text: string) => new TextEncoder().encode(text).length

/**
 * Checks one identify call. Returns the call and its JSON (reused for the size check and the
 * unchanged-call hash, so identify does no second JSON pass), or throws a FlameupError.
 */
export const validateIdentify = (userId: unknown, traits?: unknown): [IdentifyCall, string] => {
  if (typeof userId != 'string' || !userId.trim() || userId.length > 255 || userId == 'undefined' || userId == 'null')
    throw invalid('userId', 'must be a string of 1 to 255 characters, not "undefined" or "null"')
  // A plain object: arrays, dates, class instances and null are not traits.
  const proto = traits != null && Object.getPrototypeOf(traits)
  if (traits !== undefined && proto !== Object.prototype && proto !== null) throw invalid('traits', 'must be a plain object')
  const { email, ...rest } = (traits || {}) as Traits
  if (email !== undefined && !(typeof email == 'string' && EMAIL.test(email))) throw invalid('email', 'is not a valid email')
  const call: IdentifyCall = { userId, email, traits: rest }
  let json: string
  try {
    // The replacer sees what JSON.stringify would silently drop (function, symbol) or throw on (bigint).
    json = JSON.stringify(call, (key, value) => {
      if (['function', 'symbol', 'bigint'].includes(typeof value)) throw invalid('traits.' + key, 'cannot be sent as JSON')
      return value
    })
  } catch (error) {
    throw error instanceof FlameupError ? error : invalid('traits', 'cannot be sent as JSON (a cycle?)')
  }
  // Encoding is only needed when the call could be near the limit (one UTF-16 unit is at most 3 bytes).
  if (json.length * 3 > MAX_CALL_BYTES && utf8Length(json) > MAX_CALL_BYTES) throw invalid('traits', 'make the call over 32 KB of JSON')
  return [call, json]
}
