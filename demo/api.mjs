// A local stand-in for the Flameup people endpoint (CONTRACT §1, the seed page), with fault
// injection and a request log. The demo, the Chromium tests and the benchmarks share it.
// Plain ESM on Node builtins only, so it runs before anything is built.
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { pathToFileURL } from 'node:url'

const PEOPLE_PATH = /^\/api\/v1\/workspaces\/([^/]+)\/people\/?$/
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const COLUMNS = ['phone', 'first_name', 'last_name', 'avatar_url', 'timezone', 'locale']
const MAX_BODY = 1048576
const REASONS = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}
const UNAUTHORIZED = { error: 'Unauthorized', message: 'Authentication required. Please provide a valid API token', code: 401 }

const errorBody = (code, message) =>
  code == 401 ? UNAUTHORIZED : { error: REASONS[code] || 'Error', message: message || REASONS[code] || 'Error', code }

const invalid = (field, message) => ({
  error: 'Bad Request',
  message: 'The request contains invalid parameters or malformed data',
  code: 400,
  details: [{ field, message }],
})

/** A small seeded PRNG, so that a given seed fails the same calls on every run. */
export const mulberry32 = (seed) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const isObject = (value) => typeof value == 'object' && value !== null && !Array.isArray(value)

const readBody = (req) =>
  new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    req.on('data', (chunk) => {
      size += chunk.length
      if (size <= MAX_BODY) chunks.push(chunk)
    })
    req.on('end', () => resolve(size > MAX_BODY ? null : Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })

const parse = (text) => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The API's checks, in its order; returns the 400 body or undefined. */
const checkPerson = (body) => {
  if (!isObject(body)) return invalid('body', 'The body must be a JSON object')
  if (typeof body.userId != 'string' || !body.userId.trim()) return invalid('userId', 'userId is required')
  if (body.email != null && (typeof body.email != 'string' || !EMAIL.test(body.email))) return invalid('email', 'Invalid email format')
  if (body.traits != null && !isObject(body.traits)) return invalid('traits', 'traits must be an object')
}

/**
 * Starts the stand-in on `host:port` (port 0 picks a free one).
 *
 * `POST /api/v1/workspaces/{workspaceId}/people` answers like the real API: 401 without the right
 * Bearer key, 404 for another workspace, 400 with `details` for a bad userId/email/traits, 201 with
 * a new person, and 200 with the updated person when the userId already exists (an upsert).
 *
 * Faults (`setFaults` or `POST /__control`, which replace the current ones): `status` answers
 * every call with that status, `statusByUserId` does so per userId, `failRate` (0..1) answers 500
 * or 503 at random from the seeded PRNG, `retryAfter` (seconds) is added to 429 and 503 answers,
 * `latencyMs` delays each answer, `hang` never answers, `down` destroys the socket (a network
 * error), and a numeric `seed` reseeds the PRNG. Every POST to the endpoint is logged in
 * `requests` as `{ userId, messageId, body, at, status }` (`status` null while unanswered or
 * when hung or cut).
 *
 * Also served: `GET /__people`, `GET /__requests`, `GET|POST /__control`, `POST /__reset`.
 * Every answer carries `Access-Control-Allow-Origin: *`, so the SDK's direct mode can call it.
 */
export async function startApi({
  host = '127.0.0.1',
  port = 0,
  apiKey = 'fl_local_key',
  workspaceId = 'ws_local',
  log = false,
  seed = 1,
  random,
} = {}) {
  const people = new Map()
  const requests = []
  let faults = {}
  let rand = random || mulberry32(seed)
  const timers = new Set()

  const setFaults = (next = {}) => {
    faults = isObject(next) ? { ...next } : {}
    if (typeof faults.seed == 'number' && !random) rand = mulberry32(faults.seed)
    return faults
  }

  const reset = () => {
    people.clear()
    requests.length = 0
    faults = {}
    if (!random) rand = mulberry32(seed)
  }

  const sleep = (ms) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer)
        resolve()
      }, ms)
      timers.add(timer)
    })

  const send = (req, res, status, body, headers = {}) => {
    if (log) process.stdout.write(`api ${req.method} ${req.url} -> ${status}\n`)
    res.writeHead(status, {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Expose-Headers': 'Retry-After',
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    })
    res.end(body === undefined ? undefined : JSON.stringify(body))
  }

  const upsert = ({ userId, email, traits }) => {
    const now = new Date().toISOString()
    const previous = people.get(userId)
    const { email: traitEmail, ...rest } = traits || {}
    const columns = {}
    const attributes = { ...(previous?.attributes || {}) }
    for (const [key, value] of Object.entries(rest)) {
      if (COLUMNS.includes(key)) columns[key] = value
      else attributes[key] = value
    }
    const person = {
      id: previous?.id || randomUUID(),
      workspace_id: workspaceId,
      external_id: userId,
      email: email ?? traitEmail ?? previous?.email ?? null,
      ...Object.fromEntries(COLUMNS.map((key) => [key, columns[key] ?? previous?.[key] ?? null])),
      status: 'active',
      attributes,
      created_at: previous?.created_at || now,
      updated_at: now,
      first_seen_at: previous?.first_seen_at || now,
      last_seen_at: now,
    }
    people.set(userId, person)
    return [previous ? 200 : 201, person]
  }

  const faultStatus = (userId) => {
    const byUser = isObject(faults.statusByUserId) ? faults.statusByUserId[userId] : undefined
    if (byUser >= 300) return byUser
    if (faults.status >= 300) return faults.status
    if (faults.failRate > 0 && rand() < faults.failRate) return rand() < 0.5 ? 500 : 503
  }

  const createPerson = async (req, res, workspace) => {
    const text = await readBody(req)
    const body = text == null ? undefined : parse(text)
    const entry = {
      userId: isObject(body) ? body.userId : undefined,
      messageId: req.headers['x-flameup-message-id'] || req.headers['idempotency-key'],
      body: body === undefined ? text : body,
      at: new Date().toISOString(),
      status: null,
    }
    requests.push(entry)
    if (faults.down) return req.socket.destroy()
    if (faults.hang) return
    if (faults.latencyMs > 0) await sleep(faults.latencyMs)
    const answer = (status, payload, headers) => {
      entry.status = status
      send(req, res, status, payload, headers)
    }
    const forced = faultStatus(entry.userId)
    if (forced) {
      const retry = (forced == 429 || forced == 503) && faults.retryAfter != null
      return answer(forced, errorBody(forced), retry ? { 'Retry-After': String(faults.retryAfter) } : {})
    }
    if (req.headers.authorization !== 'Bearer ' + apiKey) return answer(401, UNAUTHORIZED)
    if (workspace !== workspaceId) return answer(404, errorBody(404, 'Workspace not found'))
    if (text == null) return answer(413, errorBody(413, 'The body is over 1 MB'))
    if (body === undefined) return answer(400, errorBody(400, 'The body is not valid JSON'))
    const rejection = checkPerson(body)
    if (rejection) return answer(400, rejection)
    answer(...upsert(body))
  }

  const control = async (req, res, path) => {
    if (req.method == 'GET' && path == '/__people') return send(req, res, 200, [...people.values()])
    if (req.method == 'GET' && path == '/__requests') return send(req, res, 200, requests)
    if (req.method == 'GET' && path == '/__control') return send(req, res, 200, faults)
    if (req.method == 'POST' && path == '/__control') {
      const body = parse((await readBody(req)) || '')
      if (!isObject(body)) return send(req, res, 400, errorBody(400, 'Send the faults as a JSON object'))
      return send(req, res, 200, setFaults(body))
    }
    if (req.method == 'POST' && path == '/__reset') {
      reset()
      return send(req, res, 204)
    }
    send(req, res, 404, errorBody(404, 'No route for ' + req.method + ' ' + path))
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url || '/', 'http://stand-in').pathname
    if (req.method == 'OPTIONS')
      return send(req, res, 204, undefined, {
        'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
        'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] || 'Authorization, Content-Type',
        'Access-Control-Max-Age': '600',
      })
    const match = PEOPLE_PATH.exec(path)
    const done = match && req.method == 'POST' ? createPerson(req, res, decodeURIComponent(match[1])) : control(req, res, path)
    done.catch(() => res.destroy())
  })

  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const bound = server.address().port
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`

  const close = () =>
    new Promise((resolve) => {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      server.close(() => resolve())
      // Hung requests and keep-alive sockets would hold close() open forever.
      server.closeAllConnections()
    })

  return { url, port: bound, people, requests, setFaults, reset, close }
}

// `node demo/api.mjs`: serve the stand-in until Ctrl-C.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const workspaceId = process.env.FLAMEUP_WORKSPACE_ID || 'ws_local'
  const api = await startApi({
    port: Number(process.env.PORT || 8788),
    apiKey: process.env.FLAMEUP_API_KEY || undefined,
    workspaceId,
    log: true,
  })
  process.stdout.write(`Flameup API stand-in on ${api.url} (workspace ${workspaceId})\n`)
  const stop = () => api.close().then(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
