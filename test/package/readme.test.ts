// Every figure in the README comes from one source (issue 12: the README said 3.6x-25x against its
// own table's x4.1-x28.6, and called the stub 159, 178 and 179 B). scripts/readme-figures.mjs
// renders the marked blocks; this fails when the README's sizes are more than 1 % off the build, or
// when a hash, the inline stub, the peers table or a code sample differs from its source.
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
// @ts-expect-error a plain .mjs script without declarations
import { blocks, documents, render, sizeOf, sources } from '../../scripts/readme-figures.mjs'

const ROOT = resolve(__dirname, '../..')
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')
const block = (name: string) => {
  const found = README.match(new RegExp(`<!-- figures:${name} -->([\\s\\S]*?)<!-- /figures:${name} -->`))
  if (!found) throw new Error('README has no figures:' + name + ' block')
  return found[1]
}
const number = (text: string) => Number(text.replace(/,/g, ''))
const within1 = (shown: number, built: number, what: string) =>
  expect(Math.abs(shown - built) / built, `${what}: README ${shown}, build ${built} (run npm run readme)`).toBeLessThanOrEqual(0.01)

let values: Record<string, string>

beforeAll(async () => {
  values = await blocks(sources())
})

describe('README figures', () => {
  it('sizes table agrees with dist/ within 1 %', () => {
    const rows = block('sizes').split('\n').filter((line) => line.startsWith('| `dist/'))
    expect(rows).toHaveLength(2)
    for (const row of rows) {
      const file = row.match(/`dist\/([^`]+)`/)![1]
      const [min, gzip, brotli] = row.split('|').slice(2, 5).map(number)
      const built = sizeOf(file)
      within1(min, built.min, file + ' min')
      within1(gzip, built.gzip, file + ' gzip')
      within1(brotli, built.brotli, file + ' brotli')
    }
  })

  it('headline and stub size agree with dist/ within 1 %', () => {
    const script = sizeOf('flameup.min.js')
    const stub = sizeOf('snippet.min.js')
    const [, gzip, brotli, stubMin, stubGzip] = block('headline').match(/([\d.]+) kB gzip \/ ([\d.]+) kB brotli.*?(\d+) B\*\* inline stub \((\d+) B gzip\)/)!
    // kB with one decimal: 1 % of the build, or the 50 B that rounding to 0.1 kB may take.
    for (const [shown, built, what] of [[gzip, script.gzip, 'gzip'], [brotli, script.brotli, 'brotli']] as const)
      expect(Math.abs(Number(shown) * 1000 - built), `headline ${what}: README ${shown} kB, build ${built} B (run npm run readme)`).toBeLessThanOrEqual(Math.max(50, built / 100))
    within1(number(stubMin), stub.min, 'stub min')
    within1(number(stubGzip), stub.gzip, 'stub gzip')
    within1(parseInt(block('stub-size')), stub.min, 'stub size in Usage')
  })

  it('prints the inline stub, its CSP hash and the SRI hash of this build exactly', () => {
    const integrity = JSON.parse(readFileSync(join(ROOT, 'dist/integrity.json'), 'utf8'))
    expect(block('stub')).toContain('<script>' + readFileSync(join(ROOT, 'dist/snippet.min.js'), 'utf8') + '</script>')
    expect(block('csp')).toContain(integrity['snippet.min.js'].csp)
    expect(block('sri')).toContain(integrity['flameup.min.js'].integrity)
  })

  it('renders the ratios and the peers table from bench/results/peers.json', () => {
    expect(block('small')).toBe(values.small)
    expect(block('peers').trim()).toBe(values.peers)
  })

  it('has every other block as its source renders it (bench results, hashes, stub)', () => {
    const stale: string[] = []
    render(README, values, stale)
    // Sizes may be 1 % off (checked above): a rebuild need not mean a README commit.
    expect(stale.filter((name) => !['figures:headline', 'figures:stub-size', 'figures:sizes'].includes(name))).toEqual([])
  })

  it('states no byte figure outside a rendered block', () => {
    const outside = README.replace(/<!-- figures:([\w-]+) -->[\s\S]*?<!-- \/figures:\1 -->/g, '')
    const figures = [...outside.matchAll(/(.{0,12})\b(\d[\d,.]*\s?(?:B|kB|bytes))\b/g)].filter(([, before]) => !/aim is $/.test(before)).map(([, , figure]) => figure)
    expect(figures).toEqual([])
  })
})

describe('code samples', () => {
  it('in the README and docs/*.md equal the type-checked files in docs/examples', () => {
    const stale: string[] = []
    for (const document of documents()) {
      const mine: string[] = []
      render(readFileSync(join(ROOT, document), 'utf8'), values, mine)
      stale.push(...mine.filter((name: string) => name.startsWith('example:')).map((name: string) => document + ' ' + name))
    }
    expect(stale).toEqual([])
  })
})
