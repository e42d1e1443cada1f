// `npm run bench`: every figure we promise, printed, never asserted (targets live here, not in tests).
//   1. bytes of every dist file (min, gzip -9, brotli -q 11)
//   2. identify side by side with the peers in headless Chromium (bench/peers.mjs)
//   3. requests per page view, two chaos runs (the second with IndexedDB faults), and calls lost
//      when the page navigates right after identify, in Chromium (test/bench-browser.mjs)
//   4. a load run against the proxy CLI (test/bench-proxy.mjs)
// `npm run bench -- sizes` (or peers, browser, proxy) runs only those parts.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'

const parts = process.argv.slice(2)
const wanted = (part) => parts.length == 0 || parts.includes(part)
const TARGETS = { 'flameup.min.js': 'target 2,500 B gzip, limit 3,500', 'snippet.min.js': 'limit 400 B gzip' }

if (wanted('sizes')) {
  console.log('\n## Bytes of dist/\n')
  console.log('| file | min | gzip | brotli | |')
  console.log('|---|---:|---:|---:|---|')
  for (const file of readdirSync('dist').filter((name) => /\.(m?js|d\.ts)$/.test(name)).sort()) {
    const bytes = readFileSync(`dist/${file}`)
    const gzip = gzipSync(bytes, { level: 9 }).length
    const brotli = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length
    console.log(`| ${file} | ${bytes.length} | ${gzip} | ${brotli} | ${TARGETS[file] || ''} |`)
  }
}

if (wanted('peers')) {
  console.log('\n## identify against the SDKs people use today\n')
  const { benchPeers } = await import('../bench/peers.mjs')
  await benchPeers({ write: true, print: true })
}

if (wanted('browser')) {
  console.log('\n## Delivery in real Chromium\n')
  const browser = await import('./bench-browser.mjs')
  const results = {
    requestsPerPageView: await browser.benchRequestsPerPageView(),
    chaos: await browser.benchChaos(),
    chaosStorage: await browser.benchChaosStorage(),
    navigateAfterIdentify: await browser.benchNavigateAfterIdentify(),
  }
  const lines = [
    browser.formatRequestsPerPageView(results.requestsPerPageView),
    browser.formatChaos(results.chaos),
    browser.formatChaosStorage(results.chaosStorage),
    browser.formatNavigateAfterIdentify(results.navigateAfterIdentify),
  ]
  lines.forEach((line) => console.log(line))
  // The README's figures:bench-browser block is rendered from this file by `npm run readme`.
  const readme = lines.map((line) => '- ' + line).join('\n') + '\n\nMeasured ' + new Date().toISOString().slice(0, 10) + ' by `npm run bench -- browser`.'
  writeFileSync(new URL('../bench/results/browser.json', import.meta.url), JSON.stringify({ ...results, readme }, null, 2) + '\n')
}

if (wanted('proxy')) {
  console.log('\n## Proxy under load\n')
  const { benchProxy, formatBenchProxy, writeBenchProxy } = await import('./bench-proxy.mjs')
  const result = await benchProxy()
  console.log(formatBenchProxy(result))
  console.log('written to ' + writeBenchProxy(result))
}
