// `npm run readme`: the one source of every figure and generated sample in README.md and docs/*.md.
// Fills each marked block from what produced it:
//   <!-- figures:NAME -->…<!-- /figures:NAME -->   sizes from dist/ (run `npm run build` first),
//       hashes from dist/integrity.json, the inline stub from dist/snippet.min.js, the peers
//       comparison from bench/results/peers.json (written by `npm run bench`);
//       and `figures:bench-NAME` from the `readme` text (Markdown) of bench/results/NAME.json, for
//       any other part of `npm run bench` that writes its results there;
//   <!-- example:PATH -->…<!-- /example -->         the file PATH (type-checked by `npm run typecheck`).
// `--check` writes nothing and exits 1 naming each stale block. test/package/readme.test.ts fails
// when the README's sizes are more than 1 % off the build, or a hash, the stub or a sample differs.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { integrity } from './integrity.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const read = (path) => readFileSync(join(ROOT, path))

/** min, gzip -9 and brotli -q 11 bytes of a dist file, as `npm run bench -- sizes` measures them. */
export const sizeOf = (file) => {
  const bytes = read('dist/' + file)
  return {
    min: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  }
}

const n = (value) => value.toLocaleString('en-US')
const kB = (value) => (value / 1000).toFixed(1) + ' kB'

/** Everything the blocks are made of, read once. */
export const sources = () => ({
  script: sizeOf('flameup.min.js'),
  stub: sizeOf('snippet.min.js'),
  stubSource: read('dist/snippet.min.js').toString(),
  hashes: integrity(join(ROOT, 'dist')),
  version: JSON.parse(read('package.json')).version,
  peers: JSON.parse(read('bench/results/peers.json')),
  // Other bench parts: bench/results/NAME.json with a `readme` field become figures:bench-NAME.
  bench: Object.fromEntries(
    readdirSync(join(ROOT, 'bench/results'))
      .filter((name) => name.endsWith('.json') && name != 'peers.json')
      .map((name) => [name.slice(0, -5), JSON.parse(read('bench/results/' + name)).readme])
      .filter(([, readme]) => typeof readme == 'string'),
  ),
})

/** The text of each figures block, by name. */
export const blocks = async (s) => {
  const { toMarkdown } = await import('../bench/peers.mjs')
  const ours = s.peers.rows.find((row) => row.id == 'ours')
  const others = s.peers.rows.filter((row) => row.id != 'ours' && !row.error)
  const ratio = (row) => row.bytes.gzip / ours.bytes.gzip
  const [least, most] = [others.reduce((a, b) => (ratio(a) < ratio(b) ? a : b)), others.reduce((a, b) => (ratio(a) > ratio(b) ? a : b))]
  const short = (row) => row.name.replace(/ .*/, '')
  const integrityOf = s.hashes['flameup.min.js'].integrity
  const cdn = `https://cdn.jsdelivr.net/npm/flameup@${s.version}/dist/flameup.min.js`
  return {
    ...Object.fromEntries(Object.entries(s.bench).map(([name, readme]) => ['bench-' + name, readme.trim()])),
    headline: `**${kB(s.script.gzip)} gzip / ${kB(s.script.brotli)} brotli** with idb-keyval inside, plus a **${s.stub.min} B** inline stub (${s.stub.gzip} B gzip)`,
    small: `${ratio(least).toFixed(1)}× (${short(least)}) to ${ratio(most).toFixed(1)}× (${short(most)}) smaller in gzip than the SDKs people use today, ${ours.mainThread.medianUs.toFixed(0)} µs of main thread per call, ${ours.wire.requests} requests per ${ours.wire.calls} calls`,
    'stub-size': `${s.stub.min} bytes`,
    sizes: [
      '| file | min | gzip | brotli |',
      '|---|---:|---:|---:|',
      `| \`dist/flameup.min.js\` (script tag, idb-keyval inside) | ${n(s.script.min)} | ${n(s.script.gzip)} | ${n(s.script.brotli)} |`,
      `| \`dist/snippet.min.js\` (inline stub) | ${n(s.stub.min)} | ${n(s.stub.gzip)} | ${n(s.stub.brotli)} |`,
    ].join('\n'),
    peers: `${toMarkdown(s.peers)}\n\nMeasured ${s.peers.date.slice(0, 10)} on a ${s.peers.cores}-core machine (${s.peers.chromium}, Node ${s.peers.node}) with Flameup at commit \`${s.peers.flameup.commit}\`; ratios are to Flameup's row, stub included.`,
    stub: '```html\n<script>' + s.stubSource + '</script>\n```',
    csp: [
      '```http',
      `Content-Security-Policy: script-src 'self' ${s.hashes['snippet.min.js'].csp} 'sha256-<hash of your init script>'`,
      '```',
    ].join('\n'),
    sri: [
      '```html',
      `<script async src="${cdn}"`,
      `        integrity="${integrityOf}" crossorigin="anonymous"></script>`,
      '```',
    ].join('\n'),
  }
}

const FIGURES = /(<!-- figures:([\w-]+) -->)([\s\S]*?)(<!-- \/figures:\2 -->)/g
const EXAMPLE = /(<!-- example:(\S+) -->\n)([\s\S]*?)(<!-- \/example -->)/g
const FENCE = { ts: 'ts', tsx: 'tsx', mjs: 'js', js: 'js' }

/** `text` with every block filled; `stale` collects the names of blocks that changed. */
export const render = (text, values, stale = []) =>
  text
    .replace(FIGURES, (whole, open, name, body, close) => {
      if (!(name in values)) throw new Error('unknown figures block ' + name)
      // Multi-line blocks stand on their own lines; inline ones stay inline.
      const value = body.startsWith('\n') ? '\n' + values[name] + '\n' : values[name]
      if (value != body) stale.push('figures:' + name)
      return open + value + close
    })
    .replace(EXAMPLE, (whole, open, path, body, close) => {
      const value = '```' + FENCE[path.split('.').pop()] + '\n' + read(path).toString() + '```\n'
      if (value != body) stale.push('example:' + path)
      return open + value + close
    })

/** README.md and the docs that carry blocks. */
export const documents = () => ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => 'docs/' + name)]

if (process.argv[1] == fileURLToPath(import.meta.url)) {
  const values = await blocks(sources())
  const check = process.argv.includes('--check')
  const stale = []
  for (const document of documents()) {
    const before = read(document).toString()
    const mine = []
    const after = render(before, values, mine)
    stale.push(...mine.map((block) => document + ' ' + block))
    if (!check && after != before) writeFileSync(join(ROOT, document), after)
  }
  if (check && stale.length) {
    console.error('stale, run `npm run readme`:\n  ' + stale.join('\n  '))
    process.exit(1)
  }
  console.log(check ? 'README figures are current' : stale.length ? 'updated: ' + stale.join(', ') : 'README figures were current')
}
