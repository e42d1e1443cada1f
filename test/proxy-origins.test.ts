// allowedOrigins entries are checked when the handler is created (issue 12: `shop.example` without
// its scheme, or `https://SHOP.example`, was accepted and every request of that shop was a silent 403).
import { describe, expect, it } from 'vitest'
import { FlameupError } from '../src/errors'
import { createProxyHandler, type ProxyOptions } from '../src/proxy/index'

const create = (allowedOrigins: ProxyOptions['allowedOrigins']) =>
  createProxyHandler({ apiKey: 'sk_test', workspaceId: 'ws_1', allowedOrigins, fetch: async () => Response.json({ id: 'p_1' }, { status: 201 }) })

const preflight = (handler: (request: Request) => Promise<Response>, origin: string) =>
  handler(new Request('https://proxy.example/flameup', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } }))

describe('allowedOrigins', () => {
  it.each([
    ['HTTPS://SHOP.example', 'https://shop.example'],
    ['https://shop.example/', 'https://shop.example'],
    [' https://Shop.Example:443/ ', 'https://shop.example'],
    ['http://localhost:3000', 'http://localhost:3000'],
    ['http://[::1]:8080/', 'http://[::1]:8080'],
  ])('normalises %j so that the browser origin %s is allowed', async (entry, origin) => {
    const handler = create([entry, 'https://other.example'])
    expect((await preflight(handler, origin)).status).toBe(204)
    expect((await preflight(handler, 'https://evil.example')).status).toBe(403)
  })

  it('normalises each entry of a comma-separated string', async () => {
    const handler = create('https://A.example/, https://b.example')
    for (const origin of ['https://a.example', 'https://b.example']) expect((await preflight(handler, origin)).status).toBe(204)
  })

  it.each([
    'shop.example',
    'localhost:3000',
    '//shop.example',
    'https://shop.example/checkout',
    'https://shop.example?x=1',
    'https://shop.example#top',
    'https://user@shop.example',
    'ftp://shop.example',
    'null',
    'https://',
  ])('refuses %j with invalid_config naming it', (entry) => {
    for (const listed of [['https://ok.example', entry], 'https://ok.example,' + entry]) {
      let thrown: unknown
      try {
        create(listed)
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(FlameupError)
      expect(thrown).toMatchObject({ code: 'invalid_config', field: 'allowedOrigins' })
      expect((thrown as Error).message).toContain('"' + entry + '"')
    }
  })

  it("keeps '*' and an empty list (same origin only)", async () => {
    expect((await preflight(create('*'), 'https://any.example')).status).toBe(204)
    expect((await preflight(create(''), 'https://any.example')).status).toBe(403)
    expect((await preflight(create([]), 'https://proxy.example')).status).toBe(204)
  })
})
