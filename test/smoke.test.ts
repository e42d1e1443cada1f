import { describe, expect, it, vi } from 'vitest'
import { createFlameup } from '../src/index'

describe('smoke', () => {
  it('delivers through the proxy', async () => {
    const bodies: any[] = []
    vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
      const body = JSON.parse(init.body as string)
      bodies.push(body)
      return new Response(JSON.stringify({ results: body.batch.map((item: any) => ({ messageId: item.messageId, status: 201, person: { id: 'p' } })) }), { status: 200 })
    })
    const flameup = createFlameup({ proxyUrl: '/flameup' })
    const delivered: any[] = []
    flameup.on('delivered', (e) => delivered.push(e))
    await flameup.identify('u_1', { email: 'a@b.co', plan: 'pro' })
    expect(await flameup.pending()).toBe(1)
    await flameup.flush()
    expect(await flameup.pending()).toBe(0)
    expect(bodies[0].batch[0]).toMatchObject({ userId: 'u_1', email: 'a@b.co', traits: { plan: 'pro' } })
    expect(delivered).toHaveLength(1)
    flameup.close()
  })
})
