import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { normaliseOrigins } from './cors'
import { createNodeListener, createProxyHandler } from './index'
import { createRedisStore } from './redis'
import { createUndiciSend } from './undici'

const fail = (message: string): never => {
  process.stderr.write('flameup-proxy: ' + message + '\n')
  process.exit(1)
}

// --help and --version answer before any env check (issue 12: they printed the missing-env error).
const flag = process.argv[2]
if (flag == '--version' || flag == '-v') {
  process.stdout.write(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version + '\n')
  process.exit(0)
}
if (flag == '--help' || flag == '-h') {
  process.stdout.write(`Usage: flameup-proxy   (configured by environment variables)

Serves the Flameup proxy over HTTP: browsers POST batches to it on any path, it adds the API key
and forwards each call to the Flameup API. GET /healthz answers 200 ok.

  FLAMEUP_API_KEY           required; never printed or answered
  FLAMEUP_WORKSPACE_ID      required
  FLAMEUP_API_HOST          default https://api.flameup.ai
  FLAMEUP_ALLOWED_ORIGINS   comma-separated origins allowed to call it; same origin only when unset
  FLAMEUP_IDENTITY_SECRET   require a userHash (HMAC-SHA256 of the userId) on every call
  FLAMEUP_RATE_LIMIT        calls per minute per client address (default 600, 0 = off)
  FLAMEUP_REDIS_URL         share the dedupe store between instances
  FLAMEUP_TRUST_PROXY       1: take the client address and host from X-Forwarded-For/-Host
  FLAMEUP_HEADER_TIMEOUT_MS, FLAMEUP_BODY_TIMEOUT_MS, FLAMEUP_MAX_CONNECTIONS
                            default 10000 ms, 30000 ms and 2048 open connections
  HOST, PORT                default 127.0.0.1 and 8787

Docs: https://github.com/flameup/flameup-snippet/blob/main/docs/proxy.md
`)
  process.exit(0)
}

const env = process.env
const missing = ['FLAMEUP_API_KEY', 'FLAMEUP_WORKSPACE_ID'].filter((name) => !env[name])
if (missing.length) fail(missing.join(' and ') + (missing.length > 1 ? ' are' : ' is') + ' required')
// A malformed origin is one line here, not a stack trace from createProxyHandler.
try {
  normaliseOrigins(env.FLAMEUP_ALLOWED_ORIGINS || '')
} catch (error) {
  fail('FLAMEUP_ALLOWED_ORIGINS: ' + (error as Error).message)
}

/** A whole number from the environment, `fallback` when unset; anything else exits 1. */
const integer = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
  const value = env[name]
  if (value === undefined || value === '') return fallback
  const number = Number(value)
  if (!/^\d+$/.test(value.trim()) || number < min || number > max)
    fail(name + ' must be a whole number from ' + min + (max < Number.MAX_SAFE_INTEGER ? ' to ' + max : '') + ', not ' + value)
  return number
}

const port = Number(env.PORT || 8787)
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('PORT must be a port number, not ' + env.PORT)
const host = env.HOST || '127.0.0.1'
const timeoutMs = Number(env.FLAMEUP_TIMEOUT_MS || 10000)
if (!(timeoutMs > 0)) fail('FLAMEUP_TIMEOUT_MS must be a positive number of milliseconds')
const apiHost = env.FLAMEUP_API_HOST || 'https://api.flameup.ai'
if (!/^https?:\/\/[^/]/.test(apiHost)) fail('FLAMEUP_API_HOST must be an http(s) URL')
// Items per minute per client address (CONTRACT §6); 0 turns the limit off.
const ratePerMinute = integer('FLAMEUP_RATE_LIMIT', 600, 0)
const trustProxy = env.FLAMEUP_TRUST_PROXY || '0'
if (trustProxy != '0' && trustProxy != '1') fail('FLAMEUP_TRUST_PROXY must be 1 or 0, not ' + trustProxy)
const identitySecret = env.FLAMEUP_IDENTITY_SECRET || undefined
// Slowloris: Node's defaults let a slow body hold a socket for 300 s (issue 10).
const headerTimeoutMs = integer('FLAMEUP_HEADER_TIMEOUT_MS', 10000, 1)
const bodyTimeoutMs = integer('FLAMEUP_BODY_TIMEOUT_MS', 30000, 1)
if (headerTimeoutMs > bodyTimeoutMs) fail('FLAMEUP_HEADER_TIMEOUT_MS must not exceed FLAMEUP_BODY_TIMEOUT_MS')
const maxConnections = integer('FLAMEUP_MAX_CONNECTIONS', 2048, 1)

const log = (line: string) => process.stderr.write('flameup-proxy: ' + line + '\n')
// FLAMEUP_REDIS_URL: instances sharing one Redis send each call once (CONTRACT §6 Scale-out).
const redisUrl = env.FLAMEUP_REDIS_URL
if (redisUrl && !/^rediss?:\/\/[^/]/.test(redisUrl)) fail('FLAMEUP_REDIS_URL must be a redis:// or rediss:// URL')
if (redisUrl) await import('redis').catch(() => fail('FLAMEUP_REDIS_URL needs the redis package: npm install redis'))
const store = redisUrl ? createRedisStore({ url: redisUrl, log }) : undefined

const handler = createProxyHandler({
  apiKey: env.FLAMEUP_API_KEY!,
  workspaceId: env.FLAMEUP_WORKSPACE_ID!,
  apiHost,
  allowedOrigins: env.FLAMEUP_ALLOWED_ORIGINS || '',
  timeoutMs,
  // undici's keep-alive Agent instead of fetch: several times the items/s (issue 11).
  send: createUndiciSend({ timeoutMs }),
  ...(store ? { store } : {}),
  log,
  identitySecret,
  // The client address, which the listener below has put in X-Forwarded-For (and only there).
  rateLimit: ratePerMinute ? { perMinute: ratePerMinute, key: (request) => request.headers.get('x-forwarded-for') ?? '' } : undefined,
})
// X-Forwarded-Proto/-Host: the listener reads their last entry with FLAMEUP_TRUST_PROXY=1, else ignores them.
const listener = createNodeListener(handler, { trustProxy: trustProxy == '1' })

const last = (value: string | string[] | undefined) => {
  const list = (Array.isArray(value) ? value.join(',') : value || '').split(',')
  return list[list.length - 1].trim()
}

// Bound to a loopback address, any page the machine's browser opens can reach the proxy, and a
// DNS-rebinding page arrives with its own name in Host and the same in Origin: same-origin to the
// proxy. Only loopback names (RFC 6761: localhost and *.localhost resolve to loopback only) pass.
const isLoopback = (name: string) => /^(localhost|127(\.\d{1,3}){3}|::1)$/i.test(name) || name.toLowerCase().endsWith('.localhost')
const hostName = (value: string) => (value.startsWith('[') ? value.slice(1, value.indexOf(']')) : value.replace(/:\d*$/, ''))
const loopbackBound = isLoopback(host)

const json = (res: ServerResponse, status: number, error: string, message: string) => {
  const body = JSON.stringify({ error, message, code: status })
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' })
  res.end(body)
}

const server = createServer(
  {
    headersTimeout: headerTimeoutMs,
    requestTimeout: bodyTimeoutMs,
    // How often Node checks those two timeouts (30 s by default, which would let them run late by as much).
    connectionsCheckingInterval: Math.min(1000, Math.ceil(headerTimeoutMs / 4)),
  },
  (req: IncomingMessage, res: ServerResponse) => {
    if (req.url == '/healthz' && (req.method == 'GET' || req.method == 'HEAD')) {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2', 'Cache-Control': 'no-store' })
      return res.end(req.method == 'GET' ? 'ok' : undefined)
    }
    const headers = req.headers
    // Express's "trust proxy" for one hop: the proxy in front appends the address it saw to
    // X-Forwarded-For; earlier entries are the client's own words, and without it all are ignored.
    const forwardedFor = trustProxy == '1' ? last(headers['x-forwarded-for']) : ''
    if (loopbackBound && !isLoopback(hostName(headers.host || '')) && !forwardedFor) {
      req.resume()
      return json(res, 403, 'Forbidden', 'This proxy listens on a loopback address and answers only to a loopback Host (localhost, 127.0.0.1, [::1])')
    }
    headers['x-forwarded-for'] = forwardedFor || req.socket.remoteAddress || ''
    listener(req, res)
  },
)
server.maxConnections = maxConnections
server.on('error', (error) => fail(error.message))
// Listen once Redis answered (or after a bounded wait): the first batches then dedupe too.
await store?.ready
server.listen(port, host, () => {
  const address = server.address()
  const bound = typeof address == 'object' && address ? address.port : port
  const shown = host.includes(':') ? '[' + host + ']' : host
  process.stdout.write('flameup-proxy listening on http://' + shown + ':' + bound + '\n')
  if (!identitySecret)
    process.stderr.write(
      'flameup-proxy: warning: FLAMEUP_IDENTITY_SECRET is not set, so any caller may create or update any person; see docs/proxy.md#security\n',
    )
})

const stop = () => {
  // Finish the requests in flight, drop idle keep-alive sockets, and give up after five seconds.
  server.close(() => process.exit(0))
  server.closeIdleConnections()
  setTimeout(() => process.exit(0), 5000).unref()
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
