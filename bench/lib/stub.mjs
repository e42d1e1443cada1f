// One node:http server on 127.0.0.1 that stands in for every host the SDKs talk to: it serves the
// benchmark pages and bundles, answers each SDK's settings/config endpoint with what the SDK
// expects, mounts the Flameup proxy handler at /flameup, answers any other path with 200 `{}`,
// and logs every request (method, path, header and body bytes, benchmark user ids found in it).
import { createServer } from 'node:http'
import { readFileSync, existsSync } from 'node:fs'
import { join, normalize } from 'node:path'
import { gunzipSync, inflateSync } from 'node:zlib'
import { performance } from 'node:perf_hooks'

export const USER_ID = /bu_[a-z0-9]+_\d+/g

/** Epoch milliseconds at sub-millisecond resolution: comparable with a page's performance.timeOrigin + performance.now(). */
export const now = () => performance.timeOrigin + performance.now()

const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html', '.json': 'application/json' }

/** Every string the body might carry the user ids in: raw, gzip, form fields, base64 form fields. */
const bodyTexts = (buf, url) => {
  const texts = [buf.toString('utf8'), decodeURIComponent(url.search)]
  const tryPush = (f) => {
    try {
      const s = f()
      if (s) texts.push(s)
    } catch {}
  }
  if (buf[0] === 0x1f && buf[1] === 0x8b) tryPush(() => gunzipSync(buf).toString('utf8'))
  if (buf[0] === 0x78) tryPush(() => inflateSync(buf).toString('utf8'))
  for (const text of [texts[0], url.search.slice(1)]) {
    if (!text || text.startsWith('{') || text.startsWith('[') || !text.includes('=')) continue
    tryPush(() => {
      const values = [...new URLSearchParams(text).values()]
      for (const v of values) {
        texts.push(v)
        tryPush(() => Buffer.from(v, 'base64').toString('utf8'))
      }
      return ''
    })
  }
  return texts
}

export const findUserIds = (buf, url) => {
  const ids = new Set()
  for (const text of bodyTexts(buf, url)) for (const m of text.matchAll(USER_ID)) ids.add(m[0])
  return [...ids]
}

const segmentSettings = (writeKey) => ({
  // The shape of cdn.segment.com/v1/projects/<key>/settings for a source with no destinations.
  integrations: {
    'Segment.io': {
      apiKey: writeKey,
      unbundledIntegrations: [],
      addBundledMetadata: true,
      maybeBundledConfigIds: {},
      versionSettings: { version: '4.4.7', componentTypes: ['browser'] },
      apiHost: 'api.segment.io/v1',
    },
  },
  plan: {
    track: { __default: { enabled: true, integrations: {} } },
    identify: { __default: { enabled: true } },
    group: { __default: { enabled: true } },
  },
  edgeFunction: {},
  analyticsNextEnabled: true,
  middlewareSettings: {},
  enabledMiddleware: {},
  metrics: { sampleRate: 0.1 },
  legacyVideoPluginsEnabled: false,
  remotePlugins: [],
})

const rudderSourceConfig = (writeKey) => ({
  // The shape of api.rudderstack.com/sourceConfig for an enabled source with no device-mode destinations.
  isHosted: true,
  source: {
    config: { statsCollection: { errors: { enabled: false }, metrics: { enabled: false } } },
    id: 'bench_source',
    name: 'bench',
    writeKey,
    workspaceId: 'bench_workspace',
    enabled: true,
    destinations: [],
  },
})

const posthogFlags = { featureFlags: {}, featureFlagPayloads: {}, errorsWhileComputingFlags: false, flags: {} }

/**
 * @param {{ pages: Record<string, string>, files: Record<string, string>, posthogDist: string,
 *   proxy?: { path: string, handler: (r: Request) => Promise<Response> } }} options
 * `pages` maps a path to HTML, `files` maps a path to a file on disk.
 */
export const startStub = async ({ pages, files, posthogDist }) => {
  const log = []
  const state = { proxy: undefined }

  const server = createServer(async (req, res) => {
    const t = now()
    const chunks = []
    for await (const c of req) chunks.push(c)
    const body = Buffer.concat(chunks)
    const url = new URL(req.url, `http://${req.headers.host}`)
    // HTTP/1.1 bytes as the browser wrote them: request line, header lines, blank line, body.
    let headerBytes = `${req.method} ${req.url} HTTP/1.1\r\n`.length + 2
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      headerBytes += Buffer.byteLength(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`)
    const entry = {
      t,
      end: t,
      method: req.method,
      path: url.pathname,
      host: req.headers.host,
      headerBytes,
      bodyBytes: body.length,
      kind: 'api',
      ids: findUserIds(body, url),
      status: 200,
      responseBytes: 0,
    }
    log.push(entry)

    const origin = req.headers.origin
    const cors = {
      'access-control-allow-origin': origin || '*',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, POST, PUT, OPTIONS',
      'access-control-allow-headers': req.headers['access-control-request-headers'] || '*',
      'access-control-max-age': '600',
      'cross-origin-resource-policy': 'cross-origin',
      'cache-control': 'no-store',
    }
    const send = (status, type, payload, extra = {}) => {
      const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload)
      entry.status = status
      entry.responseBytes = buf.length
      res.writeHead(status, { ...cors, 'content-type': type, 'content-length': buf.length, ...extra })
      res.end(buf, () => (entry.end = now()))
    }
    const json = (value) => send(200, 'application/json', JSON.stringify(value))

    try {
      const path = url.pathname
      if (state.proxy && path === state.proxy.path) {
        entry.kind = 'api'
        const headers = new Headers()
        for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1])
        const request = new Request(url, {
          method: req.method,
          headers,
          body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
        })
        const response = await state.proxy.handler(request)
        const out = Buffer.from(await response.arrayBuffer())
        const h = {}
        response.headers.forEach((v, k) => (h[k] = v))
        entry.status = response.status
        entry.responseBytes = out.length
        res.writeHead(response.status, h)
        res.end(out, () => (entry.end = now()))
        return
      }
      if (req.method === 'GET' && pages[path] !== undefined) {
        entry.kind = 'page'
        // Cross-origin isolation gives performance.now() 5 µs resolution instead of 100 µs.
        return send(200, 'text/html; charset=utf-8', pages[path], {
          'cross-origin-opener-policy': 'same-origin',
          'cross-origin-embedder-policy': 'require-corp',
        })
      }
      if (req.method === 'GET' && files[path] !== undefined) {
        entry.kind = 'script'
        const ext = path.slice(path.lastIndexOf('.'))
        return send(200, MIME[ext] || 'application/octet-stream', readFileSync(files[path]))
      }
      if (req.method === 'OPTIONS') {
        entry.status = 204
        res.writeHead(204, cors)
        return res.end(() => (entry.end = now()))
      }
      // Segment's CDN settings.
      let m = path.match(/^\/v1\/projects\/([^/]+)\/settings$/)
      if (m) return (entry.kind = 'config'), json(segmentSettings(m[1]))
      // RudderStack's source config.
      if (/^\/sourceConfig\/?$/.test(path)) return (entry.kind = 'config'), json(rudderSourceConfig(url.searchParams.get('writeKey')))
      // PostHog: remote config, flags, and lazily loaded extensions served from the npm package.
      if (/^\/array\/[^/]+\/config\.js$/.test(path)) return (entry.kind = 'script'), send(200, 'text/javascript', '')
      if (/^\/array\/[^/]+\/config$/.test(path)) return (entry.kind = 'config'), json({})
      if (/^\/(flags|decide)\/?$/.test(path)) return json(posthogFlags)
      m = path.match(/^\/static\/([\w.-]+\.js)$/)
      if (m) {
        entry.kind = 'script'
        const file = normalize(join(posthogDist, m[1]))
        if (file.startsWith(posthogDist) && existsSync(file)) return send(200, 'text/javascript', readFileSync(file))
        return send(200, 'text/javascript', '')
      }
      // Collectors: the success answer each SDK checks for (a bare `{}` makes Amplitude retry and drop).
      if (path === '/2/httpapi') {
        let events = 0
        try {
          events = JSON.parse(body.toString('utf8')).events?.length ?? 0
        } catch {}
        return json({ code: 200, events_ingested: events, payload_size_bytes: body.length, server_upload_time: Date.now() })
      }
      if (/^\/(track|engage|groups)\/?$/.test(path)) return json({ status: 1, error: null })
      if (/^\/(e|i\/v0\/e|batch|capture)\/?$/.test(path)) return json({ status: 1 })
      if (/\.m?js$/.test(path)) return (entry.kind = 'script'), send(200, 'text/javascript', '')
      return json({})
    } catch (error) {
      entry.status = 500
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(String(error), () => (entry.end = now()))
    }
  })
  server.keepAliveTimeout = 30_000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    log,
    setProxy: (proxy) => (state.proxy = proxy),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}
