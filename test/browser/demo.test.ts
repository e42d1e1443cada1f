import { mkdirSync, writeFileSync } from 'node:fs'
import { inflateSync } from 'node:zlib'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// @ts-expect-error: plain ESM without declarations
import { startDemo } from '../../demo/server.mjs'
import { launchChromium } from './chromium'

const SCREENSHOT = 'test-results/demo.png'
// Bounds for waits on delivery: generous, because CI runs this beside other Chromium suites on two cores.
const WAIT = 30000

/** Decodes an 8-bit, non-interlaced RGB(A) PNG such as Chromium's screenshots into pixel rows. */
const decodePng = (png: Buffer) => {
  let offset = 8
  let width = 0
  let height = 0
  let channels = 0
  const data: Buffer[] = []
  while (offset < png.length) {
    const length = png.readUInt32BE(offset)
    const type = png.toString('ascii', offset + 4, offset + 8)
    const body = png.subarray(offset + 8, offset + 8 + length)
    if (type == 'IHDR') {
      width = body.readUInt32BE(0)
      height = body.readUInt32BE(4)
      channels = { 2: 3, 6: 4 }[body[9]] ?? 0
      if (body[8] != 8 || !channels || body[12]) throw new Error('unexpected PNG format')
    }
    if (type == 'IDAT') data.push(body)
    offset += 12 + length
  }
  const raw = inflateSync(Buffer.concat(data))
  const stride = width * channels
  const rows: Buffer[] = []
  // PNG filters predict each byte from its left (a), upper (b) and upper-left (c) neighbours.
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    const row = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)))
    const up = rows[y - 1]
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? row[x - channels] : 0
      const b = up ? up[x] : 0
      const c = up && x >= channels ? up[x - channels] : 0
      const p = a + b - c
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c
      row[x] = (row[x] + [0, a, b, (a + b) >> 1, paeth][filter]) & 255
    }
    rows.push(row)
  }
  return { width, height, channels, rows }
}

/** Distinct colours, and the share of pixels that differ from the most common (background) one. */
const inkOf = (png: Buffer) => {
  const { width, height, channels, rows } = decodePng(png)
  const counts = new Map<number, number>()
  for (const row of rows)
    for (let x = 0; x < width * channels; x += channels) {
      const rgb = (row[x] << 16) | (row[x + 1] << 8) | row[x + 2]
      counts.set(rgb, (counts.get(rgb) ?? 0) + 1)
    }
  const background = Math.max(...counts.values())
  return { colors: counts.size, ink: 1 - background / (width * height) }
}

const json = async (url: string) => (await fetch(url)).json()

describe('demo', () => {
  let demo: { url: string; apiUrl: string; close: () => Promise<void> }
  let browser: Awaited<ReturnType<typeof launchChromium>>
  let page: Page
  const pageErrors: string[] = []
  const consoleErrors: string[] = []

  beforeAll(async () => {
    demo = await startDemo({ port: 0 })
    browser = await launchChromium()
    page = browser.context.pages()[0] ?? (await browser.context.newPage())
    page.on('pageerror', (error) => pageErrors.push(error.message))
    // A slow machine can make a request fail with a 5xx or time out: Chromium logs that as "Failed to load
    // resource", and the SDK retries it. Script errors and CSP violations are what this test is after.
    page.on('console', (message) => {
      if (message.type() == 'error' && !message.text().startsWith('Failed to load resource')) consoleErrors.push(message.text())
    })
  })

  afterAll(async () => {
    await browser?.close()
    await demo?.close()
  })

  it('logs in through the form and shows the person the API stand-in holds', { timeout: 90000 }, async () => {
    await page.goto(demo.url)
    // The async SDK has replaced the stub once the pending count is live.
    await page.locator('#sdk-state[data-ready]').waitFor({ timeout: WAIT })

    await page.fill('#userId', 'u_demo')
    await page.fill('#email', 'ann@example.com')
    await page.fill('#first_name', 'Ann')
    await page.selectOption('#plan', 'pro')
    await page.click('#login button[type=submit]')

    const row = page.locator('#people tr[data-user-id="u_demo"]')
    await row.waitFor({ timeout: WAIT })
    await expect.poll(() => row.locator('td').allTextContents()).toEqual(expect.arrayContaining(['u_demo', 'ann@example.com', 'Ann', 'pro']))
    const people = await json(demo.apiUrl + '/__people')
    expect(people).toContainEqual(
      expect.objectContaining({ external_id: 'u_demo', email: 'ann@example.com', first_name: 'Ann', attributes: { plan: 'pro' } }),
    )

    // The log shows the delivery (the proxy answers no person by default), and the queue drains.
    const delivered = page.locator('#log .entry[data-kind=delivered]').first()
    await expect.poll(() => delivered.locator('.summary').textContent(), { timeout: WAIT }).toMatch(/^u_demo delivered/)
    await expect.poll(() => page.locator('#pending').textContent(), { timeout: WAIT }).toBe('0')
  })

  it('shows a forged identify refused by the proxy (dropped, rejected, 403) while verified ones deliver', { timeout: 90000 }, async () => {
    await page.click('#forge')
    const dropped = page.locator('#log .entry[data-kind=dropped]').first()
    await expect.poll(() => dropped.locator('.summary').textContent(), { timeout: WAIT }).toBe('u_victim dropped: rejected (403)')
    const people = await json(demo.apiUrl + '/__people')
    expect(people.map((person: { external_id: string }) => person.external_id)).not.toContain('u_victim')
    // Nothing paused: a verified login right after it delivers.
    await page.fill('#userId', 'u_after')
    await page.fill('#email', 'after@example.com')
    await page.click('#login button[type=submit]')
    await page.locator('#people tr[data-user-id="u_after"]').waitFor({ timeout: WAIT })
    expect(await page.locator('#log .entry[data-kind=paused]').count()).toBe(0)
  })

  it('renders a page that is not blank', async () => {
    const png = await page.screenshot({ fullPage: true })
    mkdirSync('test-results', { recursive: true })
    writeFileSync(SCREENSHOT, png)
    const { colors, ink } = inkOf(png)
    expect(colors).toBeGreaterThan(50)
    expect(ink).toBeGreaterThan(0.05)
  })

  it('shows a FlameupError next to the form for a bad email', async () => {
    await page.fill('#userId', 'u_bad')
    await page.fill('#email', 'not-an-email')
    await page.click('#login button[type=submit]')
    const error = page.locator('#form-error')
    await error.waitFor()
    expect(await error.textContent()).toMatch(/FlameupError\s*invalid_argument.*email/)
    expect(await page.getAttribute('#email', 'aria-invalid')).toBe('true')
  })

  it('delivers from the ESM page too', { timeout: 90000 }, async () => {
    await page.goto(demo.url + '/esm.html')
    await page.fill('#userId', 'u_esm')
    await page.fill('#email', 'esm@example.com')
    await page.click('#login button[type=submit]')
    await page.locator('#people tr[data-user-id="u_esm"]').waitFor({ timeout: WAIT })
    const delivered = page.locator('#log .entry[data-kind=delivered]').first()
    await expect.poll(() => delivered.locator('.summary').textContent(), { timeout: WAIT }).toMatch(/^u_esm delivered/)
  })

  const control = (faults: object) =>
    fetch(demo.apiUrl + '/__control', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(faults) })

  const logIn = async (userId: string, email: string) => {
    await page.fill('#userId', userId)
    await page.fill('#email', email)
    await page.click('#login button[type=submit]')
  }

  it('shows each attempt: the status of the answer and of each call, and the next retry time', { timeout: 90000 }, async () => {
    await page.goto(demo.url)
    await page.locator('#sdk-state[data-ready]').waitFor({ timeout: WAIT })
    const attempts = page.locator('#log .entry[data-kind=attempt] .summary').filter({ hasText: 'u_retry' })
    try {
      await control({ status: 503 })
      await logIn('u_retry', 'retry@example.com')
      // The proxy answers 200 with the call's 503; the SDK keeps the call and stores its next attempt.
      // The log reads the stored record 300 ms after the answer: a short first backoff may already have
      // used attempt 2 by then, so the next one shown is 2 or later.
      await expect.poll(() => attempts.last().textContent(), { timeout: WAIT }).toMatch(/attempt \d+: 1 call \[u_retry\] → 200 \(1×503\)(; next retry \d.*\(in \d+ s\), attempt [2-9]|; retry when due)/)
    } finally {
      await control({})
    }
    await expect.poll(() => attempts.first().textContent(), { timeout: WAIT }).toMatch(/→ 200 \(1×201\)$/)
    expect(await attempts.count()).toBeGreaterThanOrEqual(2)
    await page.locator('#people tr[data-user-id="u_retry"]').waitFor({ timeout: WAIT })
  })

  it("shows identify's resolved value: 'queued', then 'skipped' for an unchanged repeat, 'opted_out' while opted out", { timeout: 90000 }, async () => {
    await page.goto(demo.url)
    await page.locator('#sdk-state[data-ready]').waitFor({ timeout: WAIT })
    const newest = page.locator('#log .entry').filter({ hasText: 'u_twice' }).first()
    await logIn('u_twice', 'twice@example.com')
    await expect.poll(() => newest.getAttribute('data-kind'), { timeout: WAIT }).toBe('queued')
    expect(await newest.textContent()).toContain('resolved "queued"')
    await page.locator('#people tr[data-user-id="u_twice"]').waitFor({ timeout: WAIT })
    await expect.poll(() => page.locator('#pending').textContent(), { timeout: WAIT }).toBe('0')
    await logIn('u_twice', 'twice@example.com')
    await expect.poll(() => newest.getAttribute('data-kind'), { timeout: WAIT }).toBe('skipped')
    await page.evaluate(() => (window as any).flameup.optOut())
    try {
      await logIn('u_twice', 'other@example.com')
      await expect.poll(() => newest.getAttribute('data-kind'), { timeout: WAIT }).toBe('opted_out')
    } finally {
      await page.evaluate(() => (window as any).flameup.optIn())
    }
  })

  it('is readable on a 390 px phone: no horizontal scroll, people as labelled rows (screenshot)', { timeout: 90000 }, async () => {
    const before = page.viewportSize()
    await page.setViewportSize({ width: 390, height: 844 })
    try {
      await page.goto(demo.url)
      await page.locator('#people tr[data-user-id="u_demo"]').waitFor({ timeout: WAIT })
      const { scrollWidth, width } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth }))
      expect(scrollWidth).toBeLessThanOrEqual(width)
      // Nothing sticks out of the screen (content inside a scrolling <pre> is not an element).
      const outside = await page.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((element) => {
            const box = element.getBoundingClientRect()
            return box.width > 0 && (box.left < -0.5 || box.right > innerWidth + 0.5)
          })
          .map((element) => element.tagName.toLowerCase() + (element.id ? '#' + element.id : '')),
      )
      expect(outside).toEqual([])
      // Each of a person's fields gets a line of its own, not a fifth of the screen.
      const widths = await page.locator('#people tr[data-user-id="u_demo"] td').evaluateAll((cells) => cells.map((cell) => cell.getBoundingClientRect().width))
      expect(widths).toHaveLength(5)
      for (const width of widths) expect(width).toBeGreaterThan(390 / 2)
      const png = await page.screenshot({ fullPage: true })
      mkdirSync('test-results', { recursive: true })
      writeFileSync('test-results/demo-390.png', png)
      expect(decodePng(png).width).toBe(390)
      expect(inkOf(png).ink).toBeGreaterThan(0.05)
    } finally {
      if (before) await page.setViewportSize(before)
    }
  })

  it('raised no page or console errors', () => {
    expect(pageErrors).toEqual([])
    expect(consoleErrors).toEqual([])
  })
})
