/** One identify call as the browser sends it (contract §6). */
export interface BatchItem {
  messageId: string
  userId: unknown
  email?: unknown
  traits?: unknown
  timestamp?: unknown
  /** The identity proof for `identitySecret`; never sent to the API. */
  userHash?: unknown
}

/** A refusal of the whole request: its status and a message for the developer reading it. */
export interface BodyError {
  status: 400 | 413 | 415
  message: string
}

const MEDIA_TYPES = ['', 'application/json', 'text/plain']

/**
 * Reads the body as UTF-8 text, at most `maxBytes` of it. Content-Length is checked first, and
 * the bytes are counted while reading too, because a chunked body has no Content-Length.
 */
export const readBody = async (request: Request, maxBytes: number): Promise<string | BodyError> => {
  const mediaType = (request.headers.get('content-type') || '').split(';')[0].trim().toLowerCase()
  if (!MEDIA_TYPES.includes(mediaType))
    return { status: 415, message: 'Send the batch as application/json or text/plain, not ' + mediaType }
  const tooLarge: BodyError = { status: 413, message: 'The body is over ' + maxBytes + ' bytes' }
  if (Number(request.headers.get('content-length')) > maxBytes) return tooLarge
  if (!request.body) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>
    try {
      chunk = await reader.read()
    } catch {
      return { status: 400, message: 'The body could not be read to its end' }
    }
    if (chunk.done) break
    size += chunk.value.byteLength
    if (size > maxBytes) {
      reader.cancel().catch(() => {})
      return tooLarge
    }
    chunks.push(chunk.value)
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return { status: 400, message: 'The body is not valid UTF-8' }
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value == 'object' && value !== null && !Array.isArray(value)

/**
 * Checks the envelope: `{"batch": [...], "sentAt"?: "<ISO>"}` with 1 to `maxItems` objects that
 * each carry a string messageId (without one, no answer could name the item). The fields of each
 * item, the messageId's characters included, are checked one by one later, so that one bad call
 * is answered 400 on its own instead of failing its whole batch.
 */
export const parseBatch = (text: string, maxItems: number): BatchItem[] | BodyError => {
  const bad = (message: string): BodyError => ({ status: 400, message })
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return bad('The body is not valid JSON')
  }
  if (!isObject(body) || !Array.isArray(body.batch)) return bad('The body must be an object with a "batch" array')
  const { batch, sentAt } = body
  if (!batch.length) return bad('"batch" is empty')
  if (batch.length > maxItems) return bad('"batch" has ' + batch.length + ' items; at most ' + maxItems + ' are accepted')
  if (sentAt !== undefined && (typeof sentAt != 'string' || isNaN(Date.parse(sentAt))))
    return bad('"sentAt" must be an ISO 8601 date string')
  for (let i = 0; i < batch.length; i++) {
    const item: unknown = batch[i]
    if (!isObject(item)) return bad('batch[' + i + '] must be an object')
    if (typeof item.messageId != 'string') return bad('batch[' + i + '].messageId must be a string')
  }
  return batch as BatchItem[]
}
