import typescript from '@rollup/plugin-typescript'
import terser from '@rollup/plugin-terser'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import { dts } from 'rollup-plugin-dts'
import { readFileSync } from 'node:fs'
import { integrityFile } from './scripts/integrity.mjs'

const ts = (options = {}) =>
  typescript({ tsconfig: './tsconfig.json', include: ['src/**/*.ts'], noEmit: false, declaration: false, outDir: undefined, ...options })

// Only the script-tag files are minified; the ESM and proxy builds stay readable for bundlers and stack traces.
const minify = () =>
  terser({
    ecma: 2020,
    // hoist_funs puts idb-keyval's promisifyRequest first and inline: 1 keeps a few small helpers as
    // calls: both measured smaller after gzip (about 20 B), and neither changes semantics.
    // booleans_as_integers (-11 B): true/false become 1/0 and comparisons with them loose (`0 == navigator.onLine`);
    // no boolean reaches the public surface (identify resolves strings, events carry no flags).
    compress: { passes: 3, unsafe_arrows: true, pure_getters: true, hoist_funs: true, inline: 1, booleans_as_integers: true },
    // Underscore-prefixed properties are internal; stored records and wire fields never start with one.
    mangle: { properties: { regex: /^_/ } },
    format: { comments: false },
  })

const browser = (input, file, name) => ({
  input,
  // compact: no trailing newline either.
  output: { file, format: 'iife', name, strict: false, compact: true },
  // The script tag already needs AbortSignal.timeout (2022 browsers): ES2022 syntax keeps `x ||= y`
  // as written; declared class fields stay type-only, as under ES2020.
  plugins: [nodeResolve({ browser: true }), ts({ target: 'es2022', useDefineForClassFields: false }), minify()],
})

export default [
  {
    input: 'src/index.ts',
    external: ['idb-keyval'],
    output: { file: 'dist/flameup.mjs', format: 'es' },
    plugins: [ts()],
  },
  browser('src/global.ts', 'dist/flameup.min.js'),
  browser('src/snippet.ts', 'dist/snippet.min.js'),
  {
    input: 'src/proxy/index.ts',
    output: { file: 'dist/proxy.mjs', format: 'es' },
    plugins: [ts()],
  },
  {
    input: 'src/proxy/cli.ts',
    external: ['node:fs', 'node:http', 'node:process', 'undici', 'redis'],
    output: { file: 'dist/proxy-cli.mjs', format: 'es', banner: '#!/usr/bin/env node' },
    plugins: [ts()],
  },
  {
    input: 'src/index.ts',
    output: { file: 'dist/flameup.d.ts', format: 'es' },
    // flameup/global: types/global.d.ts imports from 'flameup' (as docs read); beside flameup.d.ts it
    // imports the file itself. global.mjs is empty: the subpath is for types, but importing it must not fail.
    // integrity.json: runs after the script-tag builds above (rollup -c builds the configs in order).
    plugins: [dts(), integrityFile(), {
      name: 'flameup-global-types',
      generateBundle() {
        const source = readFileSync('types/global.d.ts', 'utf8').replace(/from 'flameup'/g, "from './flameup.js'")
        this.emitFile({ type: 'asset', fileName: 'global.d.ts', source })
        this.emitFile({ type: 'asset', fileName: 'global.mjs', source: '// Types only: see global.d.ts.\nexport {}\n' })
      },
    }],
  },
  // Node-only parts of the proxy, each its own entry so that dist/proxy.mjs stays runtime-neutral.
  { input: 'src/proxy/redis.ts', external: ['redis'], output: { file: 'dist/proxy/redis.mjs', format: 'es' }, plugins: [ts()] },
  { input: 'src/proxy/undici.ts', external: ['undici'], output: { file: 'dist/proxy/undici.mjs', format: 'es' }, plugins: [ts()] },
  { input: 'src/proxy/index.ts', output: { file: 'dist/proxy.d.ts', format: 'es' }, plugins: [dts()] },
  { input: 'src/proxy/redis.ts', output: { file: 'dist/proxy/redis.d.ts', format: 'es' }, plugins: [dts()] },
  { input: 'src/proxy/undici.ts', external: ['undici'], output: { file: 'dist/proxy/undici.d.ts', format: 'es' }, plugins: [dts()] },
]
