// Hashes a site owner needs for the script tag (written to dist/integrity.json by `npm run build`):
// - Subresource Integrity of dist/flameup.min.js (sha384, the SRI spec's recommended strength),
//   for <script src integrity="..." crossorigin="anonymous">;
// - the CSP source of the inline stub, sha256 of the exact bytes of dist/snippet.min.js: the
//   stub must be inlined byte for byte (no trailing newline, no indentation) for the hash to match.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

const digest = (algorithm, bytes) => algorithm + '-' + createHash(algorithm).update(bytes).digest('base64')

/** The contents of dist/integrity.json, from the built files in `dir`. */
export const integrity = (dir = 'dist') => ({
  'flameup.min.js': { integrity: digest('sha384', readFileSync(dir + '/flameup.min.js')) },
  'snippet.min.js': { csp: "'" + digest('sha256', readFileSync(dir + '/snippet.min.js')) + "'" },
})

/** Rollup plugin: once the script-tag files are written, writes integrity.json next to them. */
export const integrityFile = () => ({
  name: 'flameup-integrity',
  generateBundle() {
    this.emitFile({ type: 'asset', fileName: 'integrity.json', source: JSON.stringify(integrity(), null, 2) + '\n' })
  },
})
