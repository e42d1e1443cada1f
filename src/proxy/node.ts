// No node:http import, not even of types: the bundle must load on Workers and Deno, and its
// declarations must not need @types/node. These are the parts of node:http's IncomingMessage and
// ServerResponse (and Express's, which extend them) that the adapter uses.
// `any` because that is how @types/node types its listeners; anything narrower fails to match them.
type Listener = (...args: any[]) => void

/** What the adapter reads from node:http's `IncomingMessage`. */
export interface NodeRequest {
  method?: string
  url?: string
  headers: Record<string, string | string[] | undefined>
  socket?: unknown
  complete: boolean
  on(event: string, listener: Listener): unknown
  once(event: string, listener: Listener): unknown
  off(event: string, listener: Listener): unknown
  pause(): unknown
  resume(): unknown
}

/** What the adapter calls on node:http's `ServerResponse`. */
export interface NodeResponse {
  writeHead(status: number, headers: Record<string, string>): unknown
  end(body?: Uint8Array): unknown
  destroy(): unknown
  /** For `close`: the client went away before the answer was written (request.signal aborts). */
  once?(event: string, listener: Listener): unknown
  /** True once the answer was handed to the socket. */
  writableFinished?: boolean
}

/** Bodies up to this size, with a Content-Length, are read whole before the handler runs: the SDK sends at most 64 KB. */
const BUFFERED_BODY = 65536

/** How long an answer given before its request body was read waits for the client to finish sending. */
const DRAIN_TIMEOUT = 5000

/** Options of {@link createNodeListener}. */
export interface NodeListenerOptions {
  /**
   * `true` when exactly one reverse proxy of yours sits in front and sets `X-Forwarded-Proto` and
   * `X-Forwarded-Host`: the page's origin is then rebuilt from the last entry of each (what that
   * proxy appended; earlier entries are the client's own words), as Express's "trust proxy" does
   * for one hop. Otherwise both headers are ignored, since any client can send them and would pick
   * the origin the same-origin check believes in (issue 10).
   * @default false
   */
  trustProxy?: boolean
}

/** The last comma-separated entry of a header: the one the proxy in front wrote. */
const last = (value: string | string[] | undefined) => {
  const list = (Array.isArray(value) ? value.join(',') : value)?.split(',')
  return list?.[list.length - 1].trim()
}

/**
 * The request body as a web stream, paused while the reader is behind (backpressure), and a
 * function that drops whatever the handler left unread.
 */
const bodyOf = (req: NodeRequest): [ReadableStream<Uint8Array>, () => void] => {
  const onData = (chunk: Uint8Array) => {
    try {
      controller.enqueue(chunk)
      if ((controller.desiredSize ?? 0) <= 0) req.pause()
    } catch {
      // The reader cancelled (a body over the limit): the rest is dropped.
    }
  }
  const discard = () => {
    req.off('data', onData)
    // Reading on without a listener drops the bytes, so the client can finish sending and read the answer.
    req.resume()
  }
  let controller: ReadableStreamDefaultController<Uint8Array>
  // close() and error() throw once the stream is cancelled or closed; then there is no one to tell.
  const settle = (fn: () => void) => {
    try {
      fn()
    } catch {
      // Already settled.
    }
  }
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c
      req.on('data', onData)
      req.once('end', () => settle(() => c.close()))
      req.once('error', (error) => settle(() => c.error(error)))
      req.once('close', () => settle(() => !req.complete && c.error(new Error('the client went away'))))
    },
    pull() {
      req.resume()
    },
    cancel: discard,
  })
  return [stream, discard]
}

/**
 * The Fetch Request for a node:http request. With `trustProxy` the page's origin is rebuilt from
 * the last X-Forwarded-Proto and X-Forwarded-Host entries; without it from the socket and Host.
 */
const toRequest = (req: NodeRequest, signal: AbortSignal, trustProxy: boolean, buffered?: Uint8Array<ArrayBuffer>): [Request, () => void] => {
  const headers: [string, string][] = []
  for (const name in req.headers) {
    const value = req.headers[name]
    if (value === undefined || name.startsWith(':')) continue
    if (typeof value == 'string') headers.push([name, value])
    else for (const item of value) headers.push([name, item])
  }
  const secure = (req.socket as { encrypted?: boolean } | null)?.encrypted
  const protocol = (trustProxy && last(req.headers['x-forwarded-proto'])) || (secure ? 'https' : 'http')
  const host = (trustProxy && last(req.headers['x-forwarded-host'])) || req.headers.host || 'localhost'
  const method = req.method || 'GET'
  const url = protocol + '://' + host + (req.url || '/')
  if (buffered) return [new Request(url, { method, headers, body: buffered, signal }), () => {}]
  const [body, discard] = method != 'GET' && method != 'HEAD' ? bodyOf(req) : [null, () => req.resume()]
  // `duplex` is required by Node for a stream body and missing from the DOM RequestInit type.
  const request = new Request(url, { method, headers, body, signal, duplex: 'half' } as RequestInit)
  return [request, discard]
}

const join = (chunks: Uint8Array<ArrayBuffer>[], size: number) => {
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

/**
 * The whole body when it is small and announced (Content-Length up to 64 KB): one buffer instead
 * of a web stream per request. Undefined when it must be streamed, or when the client went away.
 */
const readSmallBody = (req: NodeRequest): Promise<Uint8Array<ArrayBuffer> | undefined> | undefined => {
  const length = Number(req.headers['content-length'])
  if (!(length > 0 && length <= BUFFERED_BODY) || req.method == 'GET' || req.method == 'HEAD') return undefined
  return new Promise((resolve) => {
    const chunks: Uint8Array<ArrayBuffer>[] = []
    let size = 0
    const onData = (chunk: Uint8Array<ArrayBuffer>) => {
      size += chunk.byteLength
      // More than announced: Node's parser refuses that, but never hold more than the limit.
      if (size > length) return done(undefined)
      chunks.push(chunk)
    }
    // One chunk (the usual case) is handed over as it is; several are joined once.
    const onEnd = () => done(size != length ? undefined : chunks.length == 1 ? chunks[0] : join(chunks, size))
    const onGone = () => done(undefined)
    function done(value: Uint8Array<ArrayBuffer> | undefined) {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onGone)
      req.off('close', onClose)
      resolve(value)
    }
    const onClose = () => !req.complete && onGone()
    req.on('data', onData)
    req.once('end', onEnd)
    req.once('error', onGone)
    req.once('close', onClose)
  })
}

const writeResponse = async (response: Response, req: NodeRequest, res: NodeResponse) => {
  const body = new Uint8Array(await response.arrayBuffer())
  const headers: Record<string, string> = {}
  response.headers.forEach((value, name) => (headers[name] = value))
  // Answered before the body was read (413, 403...): the connection cannot carry another request.
  if (!req.complete) headers.connection = 'close'
  if (response.status != 204 && response.status != 304) headers['content-length'] = String(body.byteLength)
  res.writeHead(response.status, headers)
  res.end(body.byteLength ? body : undefined)
}

/**
 * Mounts a Fetch-standard handler (such as `createProxyHandler(...)`) on `node:http`, Express or
 * Connect: `http.createServer(createNodeListener(handler))` or `app.use('/flameup', ...)`. Mount it
 * before any body parser, which would consume the body first. Behind one reverse proxy that sets
 * `X-Forwarded-Proto`/`-Host`, pass `{ trustProxy: true }` (see {@link NodeListenerOptions}).
 */
export const createNodeListener =
  (handler: (request: Request) => Promise<Response>, { trustProxy = false }: NodeListenerOptions = {}) =>
  async (req: NodeRequest, res: NodeResponse): Promise<void> => {
    let response: Response
    let discard = () => {}
    // Aborted when the client goes away before its answer is written: the handler cancels the
    // calls of that request that have not been sent yet.
    const controller = new AbortController()
    res.once?.('close', () => res.writableFinished || controller.abort())
    try {
      const pending = readSmallBody(req)
      const buffered = pending && (await pending)
      if (pending && !buffered) {
        // The client went away mid-body (or sent more than it announced): nobody to answer.
        res.destroy()
        return
      }
      const [request, drop] = toRequest(req, controller.signal, trustProxy, buffered)
      discard = drop
      response = await handler(request)
    } catch {
      // new Request() refuses a malformed Host or a method such as CONNECT.
      response = new Response(JSON.stringify({ error: 'Bad Request', message: 'The request could not be read', code: 400 }), {
        status: 400,
        headers: { 'Content-Type': 'application/json' },
      })
    }
    if (!req.complete) {
      discard()
      // Closing the connection while the client still sends makes it fail (EPIPE) before it can read
      // the answer: let the rest of the body arrive and be dropped first, for a bounded time.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, DRAIN_TIMEOUT)
        function done() {
          clearTimeout(timer)
          resolve()
        }
        req.once('end', done)
        req.once('close', done)
        if (req.complete) done()
      })
    }
    try {
      await writeResponse(response, req, res)
    } catch {
      res.destroy()
    }
  }
