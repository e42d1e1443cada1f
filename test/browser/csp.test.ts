// The README's Content Security Policy recipe, in real Chromium: the stub allowed by the CSP hash
// in dist/integrity.json, flameup.min.js checked by its SRI hash, no 'unsafe-inline' (issue 12: no
// guidance and no hashes for strict-CSP pages).
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './chromium'

const stub = readFileSync('dist/snippet.min.js', 'utf8')
const script = readFileSync('dist/flameup.min.js')
const hashes = JSON.parse(readFileSync('dist/integrity.json', 'utf8'))
const init = "flameup.init({ proxyUrl: '/flameup', storage: 'memory' })"
const initHash = "'sha256-" + createHash('sha256').update(init).digest('base64') + "'"

describe('Content Security Policy and Subresource Integrity', () => {
  let server: Server
  let origin: string
  let browser: Awaited<ReturnType<typeof launchChromium>>
  let page: Page

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://127.0.0.1')
      if (url.pathname == '/flameup.min.js') return res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(script)
      if (url.pathname == '/flameup') return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"results":[]}')
      const integrity = url.searchParams.get('integrity') ?? hashes['flameup.min.js'].integrity
      const csp = url.searchParams.get('csp') ?? `script-src 'self' ${hashes['snippet.min.js'].csp} ${initHash}`
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Security-Policy': csp })
      const tag = url.searchParams.has('stub-only') ? '' : `<script async src="/flameup.min.js" integrity="${integrity}" crossorigin="anonymous"></script>`
      res.end(`<!doctype html><script>${stub}</script><script>${init}</script>${tag}`)
    })
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    origin = 'http://127.0.0.1:' + (server.address() as AddressInfo).port
    browser = await launchChromium()
    page = browser.context.pages()[0] ?? (await browser.context.newPage())
  })

  afterAll(async () => {
    await browser?.close()
    await new Promise((done) => server?.close(done))
  })

  const loaded = () => page.evaluate(() => typeof (window as any).flameup?.pending == 'function')
  const stubbed = () => page.evaluate(() => Array.isArray((window as any).flameup?.q))

  it('runs the stub by its hash and loads the script by its SRI hash', async () => {
    await page.goto(origin + '/')
    await expect.poll(loaded, { timeout: 30000 }).toBe(true)
  })

  it('runs the stub by that hash alone, and blocks it without (the policy is really enforced)', async () => {
    await page.goto(origin + '/?stub-only')
    expect(await stubbed()).toBe(true)
    // The stub recorded the init call: the init script ran by its own hash too.
    expect(await page.evaluate(() => (window as any).flameup.q.map((call: any[]) => call[0]))).toEqual(['init'])
    await page.goto(origin + '/?stub-only&csp=' + encodeURIComponent(`script-src 'self' ${initHash}`))
    expect(await page.evaluate(() => typeof (window as any).flameup)).toBe('undefined')
  })

  it('refuses a script whose bytes do not match the integrity hash', async () => {
    const wrong = 'sha384-' + createHash('sha384').update('something else').digest('base64')
    await page.goto(origin + '/?integrity=' + encodeURIComponent(wrong))
    expect(await stubbed()).toBe(true)
    // The page's load event comes after the async script ran or was refused.
    await page.waitForLoadState('load')
    expect(await loaded()).toBe(false)
  })
})
