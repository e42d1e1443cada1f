import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'

const PLACEHOLDER = '/* FLAMEUP_SNIPPET */'
const INLINE_SCRIPT = /<script(?![^>]*\ssrc=)[^>]*>([\s\S]*?)<\/script>/g

const sha256 = (text) => "'sha256-" + createHash('sha256').update(text, 'utf8').digest('base64') + "'"

/**
 * Fills the snippet placeholder with dist/snippet.min.js as built now, so the page always runs
 * the stub of this build, and sends a strict Content-Security-Policy that allows exactly the
 * inline scripts of the page by hash: the SDK must work on sites that forbid 'unsafe-inline'.
 */
export const createPageRenderer = (snippetFile) => async (html) => {
  if (html.includes(PLACEHOLDER)) {
    const snippet = (await readFile(snippetFile, 'utf8')).trim()
    html = html.replace(PLACEHOLDER, () => snippet)
  }
  const hashes = [...html.matchAll(INLINE_SCRIPT)].map(([, source]) => sha256(source))
  const csp = [
    "default-src 'self'",
    "script-src 'self' " + hashes.join(' '),
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
  return { body: html, headers: { 'Content-Security-Policy': csp } }
}
