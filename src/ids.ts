/** A v4 UUID. `crypto.randomUUID` exists only in secure contexts, so plain-http pages take the fallback. */
export const uuid = (): string => {
  if (crypto.randomUUID) return crypto.randomUUID()
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[6] = (bytes[6] & 15) | 64
  bytes[8] = (bytes[8] & 63) | 128
  const hex = Array.from(bytes, (byte) => (byte + 256).toString(16).slice(1)).join('')
  return hex.replace(/(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')
}

let sequence = 0

/**
 * A store key that sorts in call order: creation time (8 base-36 digits until 2059), a per-page
 * counter for calls in the same millisecond, and a random tail so tabs never collide.
 */
export const queueKey = (messageId: string) =>
  'q' + Date.now().toString(36) + (++sequence).toString(36).padStart(6, '0') + messageId.slice(0, 8)

/** FNV-1a over the call's JSON: enough to tell an unchanged identify, and it keeps no traits. */
export const hashOf = (text: string) => {
  let hash = 2166136261
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619)
  return hash >>> 0
}
