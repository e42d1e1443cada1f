import { readFile, realpath } from 'node:fs/promises'
import { extname, join, sep } from 'node:path'

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

/**
 * Resolves a URL path to a file inside one of `mounts` ({prefix, dir, types}), or undefined.
 * The real path must stay inside the mount's real directory: this refuses `..`, encoded
 * separators and symlinks that lead out, and only the listed file types are ever served.
 */
export const resolveFile = async (mounts, pathname) => {
  let path
  try {
    path = decodeURIComponent(pathname)
  } catch {
    return undefined
  }
  if (path.includes('\0') || path.includes('\\')) return undefined
  for (const { prefix, dir, types } of mounts) {
    if (!path.startsWith(prefix)) continue
    const rest = path.slice(prefix.length)
    // No `..` and no dotfiles.
    if (rest.split('/').some((part) => part.startsWith('.'))) return undefined
    if (!types.includes(extname(rest))) return undefined
    try {
      const root = await realpath(dir)
      const file = await realpath(join(root, rest))
      return file.startsWith(root + sep) ? file : undefined
    } catch {
      return undefined
    }
  }
  return undefined
}

/**
 * A GET/HEAD handler for files under `mounts`. HTML goes through `renderHtml(text, file)`,
 * which returns the body and extra headers. Everything is `no-store` so a rebuild shows at once.
 */
export const createStatic = (mounts, renderHtml) => async (req, res, pathname) => {
  if (req.method != 'GET' && req.method != 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' })
    return res.end('Method Not Allowed\n')
  }
  const file = await resolveFile(mounts, pathname)
  if (!file) {
    res.writeHead(404, { 'Content-Type': 'text/plain' })
    return res.end('Not Found\n')
  }
  let body = await readFile(file)
  let headers = {}
  if (extname(file) == '.html') ({ body, headers } = await renderHtml(body.toString('utf8'), file))
  res.writeHead(200, {
    'Content-Type': TYPES[extname(file)],
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  })
  res.end(req.method == 'HEAD' ? undefined : body)
}
