import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
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

const port = Number(env.PORT || 8787)
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('PORT must be a port number, not ' + env.PORT)
const host = env.HOST || '127.0.0.1'
const timeoutMs = Number(env.FLAMEUP_TIMEOUT_MS || 10000)
if (!(timeoutMs > 0)) fail('FLAMEUP_TIMEOUT_MS must be a positive number of milliseconds')
const apiHost = env.FLAMEUP_API_HOST || 'https://api.flameup.ai'
if (!/^https?:\/\/[^/]/.test(apiHost)) fail('FLAMEUP_API_HOST must be an http(s) URL')

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
})

const server = createServer(createNodeListener(handler))
server.on('error', (error) => fail(error.message))
// Listen once Redis answered (or after a bounded wait): the first batches then dedupe too.
await store?.ready
server.listen(port, host, () => {
  const address = server.address()
  const bound = typeof address == 'object' && address ? address.port : port
  const shown = host.includes(':') ? '[' + host + ']' : host
  process.stdout.write('flameup-proxy listening on http://' + shown + ':' + bound + '\n')
})

const stop = () => {
  // Finish the requests in flight, drop idle keep-alive sockets, and give up after five seconds.
  server.close(() => process.exit(0))
  server.closeIdleConnections()
  setTimeout(() => process.exit(0), 5000).unref()
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
