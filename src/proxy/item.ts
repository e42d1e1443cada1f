import { FlameupError } from '../errors'
import { validateIdentify, type IdentifyCall } from '../validate'
import type { BatchItem } from './body'
import type { Outcome } from './upstream'

/** Most levels of objects and arrays in traits, the traits object itself being the first (CONTRACT §3). */
export const MAX_DEPTH = 32

// Keys that reach Object.prototype when a server merges traits into an object (prototype pollution).
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

// 1 to 128 printable ASCII characters without spaces: a messageId also travels in an HTTP header
// to the API, where CR, LF, NUL or a character above U+00FF broke the whole request (issue 10).
const MESSAGE_ID = /^[!-~]{1,128}$/

const isPlainObject = (value: unknown) =>
  typeof value == 'object' && value !== null && [Object.prototype, null].includes(Object.getPrototypeOf(value))

const rejected = (field: string, message: string): Outcome => ({
  status: 400,
  // The same shape as the API's own 400, so the browser's `dropped` event looks alike either way.
  error: { error: 'Bad Request', message, code: 400, details: [{ field, message }] },
})

/**
 * Why traits are refused, or '' when their shape is fine: nested deeper than MAX_DEPTH, or a key
 * that could pollute a prototype. Iterative with an explicit stack, and it stops at the first
 * level past the limit, so thousands of levels (2,198 were forwarded before) cannot overflow it.
 */
const shapeProblem = (traits: unknown): string => {
  const stack: unknown[] = [traits]
  const depths: number[] = [1]
  while (stack.length) {
    const value = stack.pop()
    const depth = depths.pop()!
    if (typeof value != 'object' || value === null) continue
    if (depth > MAX_DEPTH) return 'must not be nested deeper than ' + MAX_DEPTH + ' levels'
    for (const key in value) {
      if (FORBIDDEN_KEYS.has(key)) return 'must not hold the key "' + key + '"'
      const child = (value as Record<string, unknown>)[key]
      if (typeof child == 'object' && child !== null) {
        stack.push(child)
        depths.push(depth + 1)
      }
    }
  }
  return ''
}

/**
 * Validates one item exactly as the browser's identify() does, so nothing the API would refuse as
 * malformed is sent, plus what only the wire can carry: the messageId's characters and a
 * `userHash` (checked later, never sent to the API). Returns the call and the JSON body for the
 * API, or the 400 outcome for this item.
 */
export const checkItem = ({ messageId, userId, email, traits, timestamp, userHash }: BatchItem): [IdentifyCall, string] | Outcome => {
  if (!MESSAGE_ID.test(messageId)) return rejected('messageId', 'messageId must be 1 to 128 printable ASCII characters without spaces')
  if (userHash !== undefined && !(typeof userHash == 'string' && userHash.length <= 128))
    return rejected('userHash', 'userHash must be a string of at most 128 characters')
  if (timestamp !== undefined && (typeof timestamp != 'string' || isNaN(Date.parse(timestamp))))
    return rejected('timestamp', 'timestamp must be an ISO 8601 date string')
  const problem = shapeProblem(traits)
  if (problem) return rejected('traits', 'traits ' + problem)
  // On the wire email sits beside traits; identify() takes it inside them. A non-object traits is
  // passed through untouched so that validateIdentify names it.
  const merged = email === undefined || !(traits === undefined || isPlainObject(traits)) ? traits : { ...(traits as object), email }
  try {
    // Only userId and traits go in: userHash stays out of the call and out of its JSON.
    return validateIdentify(userId, merged)
  } catch (error) {
    if (error instanceof FlameupError) return rejected(error.field || 'userId', error.message)
    throw error
  }
}
