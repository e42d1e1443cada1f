import { createHmac, randomBytes } from 'node:crypto'
import { Agent, createServer } from 'node:http'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startApi } from './api.mjs'
import { forward } from './forward.mjs'
import { createPageRenderer } from './page.mjs'
import { startProxyProcess } from './proxy-process.mjs'
import { createStatic } from './static.mjs'

const HOST = '127.0.0.1'
const here = (path) => fileURLToPath(new URL(path, import.meta.url))

// A made-up key: the demo shows that it stays in the proxy process and never reaches the page.
const API_KEY = 'fl_demo_secret_key_0123456789'
const WORKSPACE_ID = 'ws_demo'
// The proxy's identity secret: this server (the site) and the proxy share it; the page never sees it.
const IDENTITY_SECRET = randomBytes(32).toString('hex')
// The stand-in's control endpoints, reachable from the page under /api-control/ (same origin).
const CONTROL = new Set(['/__control', '/__people', '/__requests', '/__reset'])

const MOUNTS = [
  { prefix: '/dist/', dir: here('../dist'), types: ['.js', '.mjs'] },
  // dist/flameup.mjs imports 'idb-keyval'; the ESM page maps that bare name here.
  { prefix: '/node_modules/idb-keyval/dist/', dir: here('../node_modules/idb-keyval/dist'), types: ['.js'] },
  // Page files only: the .mjs server code next to them is not served.
  { prefix: '/', dir: here('.'), types: ['.html', '.css', '.js'] },
]

const listen = (server, port) =>
  new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, HOST, () => {
      server.off('error', reject)
      resolve(server.address().port)
    })
  })

/** Listens on `port`, or on a free one when it is taken. */
const listenOrAnyPort = (server, port) =>
  listen(server, port).catch((error) => {
    if (error.code != 'EADDRINUSE' || port == 0) throw error
    console.log('Port ' + port + ' is taken; using a free one.')
    return listen(server, 0)
  })

/** The identity proof for `userId`: lowercase hex HMAC-SHA256, keyed with the proxy's secret (docs/proxy.md). */
export const userHashOf = (userId, secret = IDENTITY_SECRET) => createHmac('sha256', secret).update(userId, 'utf8').digest('hex')

/**
 * POST /login {"userId"} -> {"userHash"}. A real site answers this only for the user its login
 * just authenticated (the session's own user); the demo has no passwords, so any id logs in.
 */
const login = (req, res) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (chunk) => {
    body += chunk
    if (body.length > 4096) req.destroy()
  })
  req.on('end', () => {
    let userId
    try {
      userId = JSON.parse(body).userId
    } catch {
      // Answered below.
    }
    const ok = typeof userId == 'string'
    res.writeHead(ok ? 200 : 400, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
    res.end(JSON.stringify(ok ? { userId, userHash: userHashOf(userId) } : { error: 'Bad Request', message: 'Send {"userId": "..."}', code: 400 }))
  })
}

/**
 * Starts the Flameup API stand-in, the real proxy CLI in front of it, and the page server that
 * serves the demo pages and dist/ and forwards /flameup to the proxy. All on 127.0.0.1.
 */
export const startDemo = async ({ port = 0, onProxyExit } = {}) => {
  const api = await startApi({ host: HOST, port: 0, apiKey: API_KEY, workspaceId: WORKSPACE_ID })
  const agent = new Agent({ keepAlive: true })
  const serveStatic = createStatic(MOUNTS, createPageRenderer(here('../dist/snippet.min.js')))
  let proxy

  const server = createServer((req, res) => {
    // A path like `//[` is no URL at all; answer instead of throwing in the server.
    const { pathname, search } = URL.canParse(req.url, 'http://' + HOST) ? new URL(req.url, 'http://' + HOST) : {}
    if (!pathname || !req.url.startsWith('/')) {
      res.writeHead(400, { 'Content-Type': 'text/plain' })
      return res.end('Bad Request\n')
    }
    if (pathname == '/flameup' || pathname.startsWith('/flameup/')) {
      if (proxy) return forward(req, res, proxy.url, req.url, agent)
      res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '1' })
      return res.end('The proxy is starting\n')
    }
    if (pathname == '/login' && req.method == 'POST') return login(req, res)
    if (pathname.startsWith('/api-control/')) {
      const path = pathname.slice('/api-control'.length)
      if (CONTROL.has(path)) return forward(req, res, api.url, path + search, agent)
    }
    serveStatic(req, res, pathname == '/' ? '/index.html' : pathname).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' })
      res.end()
    })
  })

  let bound
  try {
    bound = await listenOrAnyPort(server, port)
    const origins = ['http://' + HOST + ':' + bound, 'http://localhost:' + bound]
    proxy = await startProxyProcess({
      cli: here('../dist/proxy-cli.mjs'),
      env: {
        FLAMEUP_API_KEY: API_KEY,
        FLAMEUP_WORKSPACE_ID: WORKSPACE_ID,
        FLAMEUP_API_HOST: api.url,
        FLAMEUP_ALLOWED_ORIGINS: origins.join(','),
        FLAMEUP_IDENTITY_SECRET: IDENTITY_SECRET,
        HOST,
        PORT: '0',
      },
      onExit: onProxyExit,
    })
  } catch (error) {
    server.close()
    await api.close()
    throw error
  }

  let closing
  const close = () =>
    (closing ||= (async () => {
      const closed = new Promise((done) => server.close(done))
      // Keep-alive sockets from the browser would hold close() open.
      server.closeAllConnections()
      await closed
      agent.destroy()
      await proxy.stop()
      await api.close()
    })())

  return { url: 'http://' + HOST + ':' + bound, apiUrl: api.url, proxyUrl: proxy.url, close }
}

const main = async () => {
  const requested = process.env.PORT ? Number(process.env.PORT) : 5173
  let demo
  const stop = async (code) => {
    await demo?.close()
    process.exit(code)
  }
  demo = await startDemo({
    port: requested,
    // Ctrl-C in a terminal reaches the proxy too, and it exits 0: that is a normal stop.
    onProxyExit: (code, signal) => {
      if (code !== 0) console.error('flameup-proxy stopped (' + (signal || code) + '); stopping the demo.')
      stop(code === 0 ? 0 : 1)
    },
  })
  console.log('Flameup demo: ' + demo.url + '   (Ctrl-C to stop)')
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.once(signal, () => {
      // A second Ctrl-C while closing means now.
      process.once(signal, () => process.exit(130))
      stop(0)
    })
}

if (process.argv[1] && realpathSync(process.argv[1]) == fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error('Flameup demo could not start: ' + error.message)
    process.exit(1)
  })
}
