import { request } from 'node:http'

/**
 * Passes one request through to `target` (an http URL on this machine) at `path`, streaming the
 * body both ways. Headers go through unchanged, so the proxy sees the page's own Origin and Host
 * and treats the page as same-origin, just as when it is mounted in a real app.
 */
export const forward = (req, res, target, path, agent) => {
  const { hostname, port } = new URL(target)
  const upstream = request({ hostname, port, path, method: req.method, headers: req.headers, agent }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers)
    answer.pipe(res)
  })
  upstream.on('error', () => {
    if (res.headersSent) return res.destroy()
    res.writeHead(502, { 'Content-Type': 'text/plain' })
    res.end('Bad Gateway: ' + target + ' did not answer\n')
  })
  // The page went away (a closed tab, a keepalive fetch the browser gave up on): stop upstream too.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy()
  })
  req.pipe(upstream)
}
