// Chromium only: what needs Playwright's view of the network (the requests a page makes). The
// delivery scenarios every engine runs (reloads, tabs, unloads, restarts, faults) are in scenarios.ts.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { launchChromium } from './chromium'
import {
  FAST,
  events,
  expectDelivered,
  expectNoDuplicates,
  expectNoPageErrors,
  gotoReady,
  identify,
  pending,
  startCli,
  startHarness,
  watchErrors,
  type Harness,
} from './server'

let browser: Awaited<ReturnType<typeof launchChromium>>
let harness: Harness
let cli: Awaited<ReturnType<typeof startCli>> | undefined

beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
})
// A new harness is a new port, hence a new origin: every test starts with empty IndexedDB.
beforeEach(async () => {
  harness = await startHarness()
})
afterEach(async () => {
  for (const page of browser.context.pages()) await page.close()
  await cli?.close()
  cli = undefined
  await harness?.close()
})

// Headers a page may send cross-origin without a preflight (Fetch standard, CORS-safelisted), plus
// those the browser itself adds.
const SIMPLE = /^(accept|accept-language|content-language|content-type|origin|referer|user-agent|sec-.*)$/

describe('proxy CLI, cross-origin', () => {
  it('a page on another origin delivers through `node dist/proxy-cli.mjs`, once', async () => {
    cli = await startCli({ apiHost: harness.api.url, allowedOrigins: harness.origin })
    expect(new URL(cli.url).origin).not.toBe(harness.origin)
    const page = await browser.context.newPage()
    const sent: { method: string; headers: Record<string, string> }[] = []
    page.on('request', (request) => {
      if (request.url().startsWith(cli!.url)) sent.push({ method: request.method(), headers: request.headers() })
    })
    const errors = watchErrors(page)
    await gotoReady(page, harness.pageUrl({ ...FAST, proxyUrl: cli.url + '/collect' }))
    await identify(page, 'cross_origin', { email: 'cross@example.com', plan: 'pro' })

    await expectDelivered(harness, 1)
    // The page could read the proxy's answer (CORS allowed it), so it knows the call was delivered.
    await expect.poll(() => events(page, 'delivered')).toMatchObject([{ userId: 'cross_origin' }])
    expect(await pending(page)).toBe(0)
    expect(harness.accepted()[0].body).toEqual({ userId: 'cross_origin', email: 'cross@example.com', traits: { plan: 'pro' } })
    expectNoDuplicates(harness)

    expect(sent.length).toBeGreaterThan(0)
    for (const { method, headers } of sent) {
      expect(method).toBe('POST')
      expect(headers['content-type']).toMatch(/^text\/plain/)
      expect(Object.keys(headers).filter((name) => !SIMPLE.test(name))).toEqual([])
    }
    expectNoPageErrors(errors)
  })
})
