import { FlameupError } from './errors'
import type { IdentifyOptions, Traits } from './types'

/** A validated identify call as the API's body wants it, and the identity proof for the proxy. */
export interface IdentifyCall {
  userId: string
  email?: string
  traits: Record<string, unknown>
  /** Sent in the batch item for the proxy's identity check, never to the API (contract §6). */
  userHash?: string
}

/** Most bytes of JSON one call may take (contract §3). */
export const MAX_CALL_BYTES = 32768

/** Most levels of objects and arrays in traits, the traits object itself being the first (contract §3). */
export const MAX_DEPTH = 32

// Deliberately loose: one "@", a dot in the domain, no spaces. The API has the final say.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

// A declaration, not an arrow: TypeScript narrows after a call only to a declared `never` function.
// The message names the field; the rules are in the README (messages cost bytes in the script tag).
function invalid(field: string, why = 'is invalid'): never {
  throw new FlameupError('invalid_argument', field, field + ' ' + why)
}

/** Bytes of a string in UTF-8, as it goes on the wire. */
export const utf8Length = (text: string) => new Blob([text]).size

/**
 * Checks one identify call. Returns the call and its JSON (reused for the size check and the
 * unchanged-call hash, so identify does no second JSON pass), or throws a FlameupError.
 */
export const validateIdentify = (userId: unknown, traits: unknown = {}, options?: IdentifyOptions): [IdentifyCall, string] => {
  if (typeof userId != 'string' || !userId.trim() || userId.length > 255 || ['undefined', 'null'].includes(userId))
    invalid('userId')
  // A plain object: arrays, dates, class instances and null are not traits (null has no prototype to ask for: 0 stands in).
  if (![Object.prototype, null].includes(Object.getPrototypeOf(traits ?? 0))) invalid('traits')
  const { email, ...rest } = traits as Traits
  if (email !== undefined && !(typeof email == 'string' && EMAIL.test(email))) invalid('email')
  const userHash = options?.userHash
  if (!['undefined', 'string'].includes(typeof userHash)) invalid('userHash')
  const call: IdentifyCall = { userId, email, traits: rest, userHash }
  // The replacer sees what JSON.stringify would silently drop (function, symbol) or throw on (bigint),
  // a key that pollutes a prototype where a server merges traits, and objects or arrays nested past
  // MAX_DEPTH levels, and notes the key; a cycle throws with no key noted. Depth is counted as the
  // proxy counts it (src/proxy/item.ts), so the proxy never refuses what identify() accepted: the
  // call is level 0, its traits level 1. `this` is the object holding `value`.
  let bad = ''
  let json: string
  const depths = new Map<unknown, number>()
  try {
    json = JSON.stringify(call, function (key, value) {
      if (
        ['function', 'symbol', 'bigint'].includes(typeof value) ||
        ['__proto__', 'constructor', 'prototype'].includes(key) ||
        // JSON.stringify's own holder of the call is not in the map: NaN || 0 makes the call level 0.
        (typeof value == 'object' && depths.set(value, depths.get(this)! + 1 || 0).get(value)! > MAX_DEPTH)
      )
        throw (bad = '.' + key)
      return value
    })
  } catch {
    invalid('traits' + bad)
  }
  // Encoding is only needed near the limit: one UTF-16 unit is at most 3 bytes of UTF-8.
  if (json.length * 3 > MAX_CALL_BYTES && utf8Length(json) > MAX_CALL_BYTES) invalid('traits')
  return [call, json]
}
