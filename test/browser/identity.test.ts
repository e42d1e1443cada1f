// Identity verification end to end (issue 10, CONTRACT §3 and §6): the script tag's
// identify(userId, traits, { userHash }) delivers through the real CLI started with
// FLAMEUP_IDENTITY_SECRET, and a forged hash is dropped (rejected, 403) without pausing later calls.
import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './chromium'
import { FAST, events, expectDelivered, expectNoDuplicates, expectNoPageErrors, gotoReady, pending, startCli, startHarness, watchErrors, type Harness } from './server'

const SECRET = 'chromium-identity-secret'
// What the site's server computes at login (docs/proxy.md, "Computing userHash").
const userHashOf = (userId: string, secret = SECRET) => createHmac('sha256', secret).update(userId).digest('hex')

let browser: Awaited<ReturnType<typeof launchChromium>>
let harness: Harness
let cli: Awaited<ReturnType<typeof startCli>>

beforeAll(async () => {
  harness = await startHarness()
  // startCli passes this process's environment on to the CLI.
  process.env.FLAMEUP_IDENTITY_SECRET = SECRET
  cli = await startCli({ apiHost: harness.api.url, allowedOrigins: harness.origin })
  delete process.env.FLAMEUP_IDENTITY_SECRET
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await cli?.close()
  await harness?.close()
})

describe('identity verification in Chromium', () => {
  it('delivers identify(userId, traits, { userHash }); a forged hash is dropped (rejected, 403) and later calls still go', async () => {
    const page = await browser.context.newPage()
    const errors = watchErrors(page)
    // Through the inline stub: the forged call first, then the user's own, as the page would make them.
    const calls = [
      ['identify', 'victim_42', { email: 'attacker@evil.example' }, { userHash: userHashOf('attacker') }],
      ['identify', 'ann', { email: 'ann@example.com', plan: 'pro' }, { userHash: userHashOf('ann') }],
    ]
    await gotoReady(page, harness.pageUrl({ ...FAST, proxyUrl: cli.url + '/collect' }, calls))

    await expectDelivered(harness, 1)
    await expect.poll(() => events(page, 'dropped')).toMatchObject([{ userId: 'victim_42', reason: 'rejected', status: 403 }])

    // Not a pause: the next verified call is delivered too.
    await page.evaluate(([userId, userHash]) => (window as any).flameup.identify(userId, { plan: 'team' }, { userHash }), ['bob', userHashOf('bob')])
    await expectDelivered(harness, 2)
    await expect.poll(() => pending(page)).toBe(0)
    expect(await events(page, 'paused')).toEqual([])
    expect(await events(page, 'delivered')).toMatchObject([{ userId: 'ann' }, { userId: 'bob' }])

    // The API saw the verified calls only, and never the proof.
    expect(harness.accepted().map((entry) => entry.body)).toEqual([
      { userId: 'ann', email: 'ann@example.com', traits: { plan: 'pro' } },
      { userId: 'bob', traits: { plan: 'team' } },
    ])
    expect(harness.api.requests.map((entry) => entry.userId)).not.toContain('victim_42')
    expectNoDuplicates(harness)
    expectNoPageErrors(errors)
  })
})
