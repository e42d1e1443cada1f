import { FlameupError } from '../errors'
import { validateIdentify } from '../validate'
import type { BatchItem } from './body'
import type { Outcome } from './upstream'

const isPlainObject = (value: unknown) =>
  typeof value == 'object' && value !== null && [Object.prototype, null].includes(Object.getPrototypeOf(value))

const rejected = (field: string, message: string): Outcome => ({
  status: 400,
  // The same shape as the API's own 400, so the browser's `dropped` event looks alike either way.
  error: { error: 'Bad Request', message, code: 400, details: [{ field, message }] },
})

/**
 * Validates one item exactly as the browser's identify() does, so nothing the API would refuse as
 * malformed is sent. Returns the JSON body for the API, or the 400 outcome for this item.
 */
export const checkItem = ({ userId, email, traits, timestamp }: BatchItem): string | Outcome => {
  if (timestamp !== undefined && (typeof timestamp != 'string' || isNaN(Date.parse(timestamp))))
    return rejected('timestamp', 'timestamp must be an ISO 8601 date string')
  // On the wire email sits beside traits; identify() takes it inside them. A non-object traits is
  // passed through untouched so that validateIdentify names it.
  const merged = email === undefined || !(traits === undefined || isPlainObject(traits)) ? traits : { ...(traits as object), email }
  try {
    return validateIdentify(userId, merged)[1]
  } catch (error) {
    if (error instanceof FlameupError) return rejected(error.field || 'userId', error.message)
    throw error
  }
}
