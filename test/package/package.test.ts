// The package as a user gets it: `npm pack`, unpacked into a consumer's node_modules, then every
// subpath of the exports map resolved with import AND require (Node 20.19+ require()s ESM), the
// types resolved by tsc as a user's project would, and every file the README links to present.
// Reported failure (issue 12): `flameup/flameup.min.js` "not exported", `require('flameup/proxy')`
// "not defined by exports", README links to docs/ dead on the registry page.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = resolve(__dirname, '../..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const subpaths = Object.keys(pkg.exports).map((key: string) => (key == '.' ? 'flameup' : 'flameup' + key.slice(1)))
// Subpaths that are JavaScript modules, loaded for real; the others (script-tag IIFEs, JSON) are resolved only.
const modules = subpaths.filter((name) => !/\.(min\.js|json)$/.test(name))

let dir: string
let consumer: string
let packed: string[]

const node = (file: string, source: string) => {
  writeFileSync(join(consumer, file), source)
  return JSON.parse(execFileSync(process.execPath, [file], { cwd: consumer, encoding: 'utf8' }))
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/flameup.mjs'))) throw new Error('run `npm run build` first (npm test does)')
  dir = mkdtempSync(join(tmpdir(), 'flameup-pack-'))
  const [result] = JSON.parse(execFileSync('npm', ['pack', '--json', '--silent', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' }))
  packed = result.files.map((file: { path: string }) => file.path)
  consumer = join(dir, 'consumer')
  const target = join(consumer, 'node_modules/flameup')
  mkdirSync(target, { recursive: true })
  writeFileSync(join(consumer, 'package.json'), '{"name":"consumer","private":true}\n')
  // Offline: the tarball unpacked by hand, its dependencies linked from this checkout's node_modules.
  execFileSync('tar', ['-xzf', join(dir, result.filename), '-C', target, '--strip-components=1'])
  for (const dependency of [...Object.keys(pkg.dependencies), 'redis'])
    symlinkSync(join(ROOT, 'node_modules', dependency), join(consumer, 'node_modules', dependency), 'dir')
}, 60000)

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('npm pack', () => {
  it('exports every subpath of CONTRACT §2, each with a default condition', () => {
    expect(Object.keys(pkg.exports)).toEqual(expect.arrayContaining(['.', './proxy', './proxy/redis', './flameup.min.js', './snippet.min.js', './package.json']))
    for (const [key, conditions] of Object.entries<Record<string, string>>(pkg.exports)) {
      expect(conditions, key).toHaveProperty('default')
      // types first: TypeScript takes the first condition that matches.
      if (conditions.types) expect(Object.keys(conditions)[0], key).toBe('types')
    }
    for (const field of ['repository', 'homepage', 'bugs']) expect(pkg).toHaveProperty(field)
  })

  it('resolves and imports every subpath from an ES module', () => {
    const result = node(
      'esm.mjs',
      `const out = {}
for (const name of ${JSON.stringify(subpaths)}) out[name] = { path: import.meta.resolve(name) }
for (const name of ${JSON.stringify(modules)}) out[name].exports = Object.keys(await import(name)).sort()
console.log(JSON.stringify(out))`,
    )
    checkResolved(result, (path) => path.replace(/^file:\/\//, ''))
  })

  it('resolves and requires every subpath from CommonJS', () => {
    const result = node(
      'cjs.cjs',
      `const out = {}
for (const name of ${JSON.stringify(subpaths)}) out[name] = { path: require.resolve(name) }
for (const name of ${JSON.stringify(modules)}) out[name].exports = Object.keys(require(name)).filter((key) => key != '__esModule' && key != 'module.exports').sort()
console.log(JSON.stringify(out))`,
    )
    checkResolved(result, (path) => path)
  })

  it('gives a TypeScript project the types of every subpath (moduleResolution nodenext)', () => {
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: [], lib: ['es2022', 'dom'] }, files: ['use.mts'] }),
    )
    writeFileSync(
      join(consumer, 'use.mts'),
      `import { createFlameup, FlameupError, type FlameupConfig } from 'flameup'
import { createProxyHandler, type Person } from 'flameup/proxy'
import type {} from 'flameup/global'
// @ts-expect-error a config needs exactly one transport
const empty: FlameupConfig = {}
const flameup = createFlameup({ proxyUrl: '/flameup' })
window.flameup.init({ proxyUrl: '/flameup' })
const handler: (request: Request) => Promise<Response> = createProxyHandler({ apiKey: 'k', workspaceId: 'ws' })
const person: Person | undefined = undefined
export { empty, flameup, handler, person, FlameupError }
`,
    )
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
    // tsc prints its errors on stdout; a failure shows them in the assertion.
    let output = ''
    try {
      execFileSync(process.execPath, [tsc, '-p', '.'], { cwd: consumer, encoding: 'utf8' })
    } catch (error: any) {
      output = String(error.stdout)
    }
    expect(output).toBe('')
  }, 30000)

  it('holds every file the README and docs link to', () => {
    const documents = ['README.md', ...packed.filter((path) => /^docs\/.*\.md$/.test(path))]
    expect(packed).toContain('README.md')
    expect(packed).toEqual(expect.arrayContaining(['docs/proxy.md', 'CHANGELOG.md', 'SECURITY.md', 'LICENSE']))
    const missing: string[] = []
    for (const document of documents) {
      const text = readFileSync(join(ROOT, document), 'utf8')
      for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(#|[a-z]+:)/i.test(link)) continue
        const path = join(document, '..', link.split('#')[0]).replace(/\\/g, '/')
        // A link to a folder needs a file in it.
        const found = link.endsWith('/') ? packed.some((file) => file.startsWith(path.replace(/\/$/, '') + '/')) : packed.includes(path)
        if (!found) missing.push(document + ' -> ' + link)
      }
    }
    expect(missing).toEqual([])
  })
})

function checkResolved(result: Record<string, { path: string; exports?: string[] }>, toPath: (path: string) => string) {
  const base = join(consumer, 'node_modules/flameup')
  for (const name of subpaths) {
    const key = name == 'flameup' ? '.' : '.' + name.slice('flameup'.length)
    const target = pkg.exports[key].default
    expect(toPath(result[name].path), name).toBe(join(base, target))
  }
  expect(result['flameup'].exports).toEqual(expect.arrayContaining(['FlameupError', 'createFlameup']))
  expect(result['flameup/proxy'].exports).toEqual(expect.arrayContaining(['createNodeListener', 'createProxyHandler']))
  expect(result['flameup/proxy/redis'].exports!.length).toBeGreaterThan(0)
  expect(result['flameup/global'].exports).toEqual([])
}
