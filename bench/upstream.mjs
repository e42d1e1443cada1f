// The API stand-in for `npm run bench -- proxy`: a separate process that is never the bottleneck
// (node:http, no validation, a fixed small answer). Env LATENCY_MS delays each answer. It counts
// calls per messageId (X-Flameup-Message-Id) so the bench can report duplicates, and the arrival
// time of each "ab-" call so it can tell which calls of an abandoned batch were still sent.
// Prints its URL on stdout. GET /__stats answers the counts; POST /__reset clears them.
import { createServer } from 'node:http'

const latency = Number(process.env.LATENCY_MS || 0)
const BODY = Buffer.from('{"id":"p_bench","workspace_id":"ws_bench","external_id":"u"}')
const HEADERS = { 'Content-Type': 'application/json', 'Content-Length': String(BODY.length) }
let seen = new Map()
let arrivals = {}
let calls = 0

const server = createServer((req, res) => {
  if (req.url == '/__stats') {
    let duplicates = 0
    for (const count of seen.values()) duplicates += count - 1
    res.end(JSON.stringify({ calls, distinct: seen.size, duplicates, arrivals }))
    return
  }
  if (req.url == '/__reset') {
    seen = new Map()
    arrivals = {}
    calls = 0
    res.end('{}')
    return
  }
  const id = req.headers['x-flameup-message-id']
  req.on('data', () => {})
  req.on('end', () => {
    calls++
    if (id) {
      seen.set(id, (seen.get(id) || 0) + 1)
      if (id.startsWith('ab-')) arrivals[id] ??= Date.now()
    }
    const answer = () => {
      res.writeHead(201, HEADERS)
      res.end(BODY)
    }
    if (latency) setTimeout(answer, latency)
    else answer()
  })
})
server.keepAliveTimeout = 60000
server.listen(0, '127.0.0.1', () => process.stdout.write('upstream listening on http://127.0.0.1:' + server.address().port + '\n'))
