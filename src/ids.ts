/**
 * A v4 UUID. `crypto.randomUUID` exists only in secure contexts; on a plain-http page a blob
 * URL, which ends in a fresh UUID, is the smallest fallback
 * (`url` is only its scratch variable).
 */
export const uuid = (url?: string): string =>
  crypto.randomUUID?.() ?? (URL.revokeObjectURL((url = URL.createObjectURL(new Blob()))), url.slice(-36))

let sequence = 0
let last = 0

/**
 * A store key that sorts in call order: creation time (8 base-36 digits until 2059), never less
 * than this page's previous one, so a later call wins a merge even after the clock moved back
 * (contract §4a), a per-page counter of fixed width for calls in the same millisecond, and a
 * random tail so tabs never collide.
 */
export const queueKey = (messageId: string) => 'q' + (last = Math.max(last, Date.now())).toString(36) + (1e9 + ++sequence) + messageId.slice(0, 8)

/**
 * FNV-1a over the call's JSON, one code point at a time: enough to tell an unchanged identify, and
 * it keeps no traits.
 */
export const hashOf = (text: string) => {
  let hash = 2166136261
  for (const char of text) hash = Math.imul(hash ^ char.codePointAt(0)!, 16777619)
  return hash >>> 0
}
