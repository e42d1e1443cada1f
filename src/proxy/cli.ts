import { createServer } from 'node:http'
import { createNodeListener, createProxyHandler } from './index'
import { createRedisStore } from './redis'
import { createUndiciSend } from './undici'

const fail = (message: string): never => {
  process.stderr.write('flameup-proxy: ' + message + '\n')
  process.exit(1)
}

const env = process.env
const missing = ['FLAMEUP_API_KEY', 'FLAMEUP_WORKSPACE_ID'].filter((name) => !env[name])
if (missing.length) fail(missing.join(' and ') + (missing.length > 1 ? ' are' : ' is') + ' required')

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
