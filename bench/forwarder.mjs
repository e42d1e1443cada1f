// The lean forwarder `npm run bench -- proxy` compares flameup-proxy with (issue 11): node:http,
// JSON.parse, the same item checks as the SDK's identify (userId, email, traits, 32 KB per call),
// an LRU dedupe map of delivered statuses, undici Pool.request with keep-alive, one API call per
// item, all items of a batch at once. No CORS, no limits, no shaping: the floor of the job.
// Env: API_URL (the people endpoint), FLAMEUP_API_KEY, PORT. Prints its URL on stdout.
import { createServer } from 'node:http'
import { Pool } from 'undici'

const api = new URL(process.env.API_URL)
const pool = new Pool(api.origin, { connections: 64, headersTimeout: 10000, bodyTimeout: 10000 })
const auth = 'Bearer ' + process.env.FLAMEUP_API_KEY
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const MAX = 10000
const delivered = new Map()

const remember = (key, status) => {
  delivered.delete(key)
  delivered.set(key, status)
  if (delivered.size > MAX) delivered.delete(delivered.keys().next().value)
}

const check = (item) => {
  if (typeof item.messageId != 'string' || !item.messageId || item.messageId.length > 128) return undefined
  if (typeof item.userId != 'string' || !item.userId.trim() || item.userId.length > 255) return undefined
  if (item.email != null && (typeof item.email != 'string' || !EMAIL.test(item.email))) return undefined
  if (item.traits != null && (typeof item.traits != 'object' || Array.isArray(item.traits))) return undefined
  const json = JSON.stringify({ userId: item.userId, email: item.email, traits: item.traits, timestamp: item.timestamp })
  return json.length > 32768 ? undefined : json
}

const forward = async (item) => {
  const json = check(item)
  if (!json) return { messageId: item?.messageId, status: 400 }
  const key = item.messageId + '\n' + json
  const known = delivered.get(key)
  if (known) return { messageId: item.messageId, status: known }
  try {
    const { statusCode, body } = await pool.request({
      path: api.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth, 'x-flameup-message-id': item.messageId },
      body: json,
    })
    await body.text()
    if (statusCode < 300) remember(key, statusCode)
    return { messageId: item.messageId, status: statusCode }
  } catch {
    return { messageId: item.messageId, status: 502 }
  }
}

const server = createServer((req, res) => {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', async () => {
    let batch
    try {
      batch = JSON.parse(Buffer.concat(chunks).toString('utf8')).batch
    } catch {}
    if (!Array.isArray(batch) || !batch.length || batch.length > 100) {
      res.writeHead(400).end()
      return
    }
    const results = await Promise.all(batch.map(forward))
    const body = JSON.stringify({ results })
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body)
  })
})
server.keepAliveTimeout = 60000
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () =>
  process.stdout.write('forwarder listening on http://127.0.0.1:' + server.address().port + '\n'),
)
