// createNodeListener on a real node:http server on 127.0.0.1.
import { createServer, request as httpRequest, type Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { createNodeListener } from '../src/proxy/index'

let server: Server | undefined

afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve))
  server = undefined
})

const listen = async (handler: (request: Request) => Promise<Response>, options?: { trustProxy?: boolean }) => {
  server = createServer(createNodeListener(handler, options))
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return 'http://127.0.0.1:' + (server.address() as { port: number }).port
}

describe('createNodeListener', () => {
  it('aborts request.signal when the client goes away before its answer (h10 cancels unsent calls on it)', async () => {
    let started = false
    let aborted: Promise<boolean> | undefined
    const url = await listen(async (request) => {
      aborted = new Promise((resolve) => request.signal.addEventListener('abort', () => resolve(true)))
      started = true
      await aborted
      return new Response('late')
    })
    const client = httpRequest(url + '/flameup', { method: 'POST', headers: { 'Content-Type': 'text/plain' } })
    client.on('error', () => {})
    client.end('{"batch":[]}')
    await expect.poll(() => started).toBe(true)
    client.destroy()
    expect(await aborted).toBe(true)
  })

  it('hands a small body over whole, with the headers, and a streamed (chunked) body too', async () => {
    const url = await listen(async (request) =>
      Response.json({ text: await request.text(), type: request.headers.get('content-type'), aborted: request.signal.aborted, url: request.url }),
    )
    const body = JSON.stringify({ batch: [{ messageId: 'm1', userId: 'u1', traits: { note: 'é'.repeat(5000) } }] })
    const small = await (await fetch(url + '/flameup?x=1', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body })).json()
    expect(small).toEqual({ text: body, type: 'text/plain', aborted: false, url: url + '/flameup?x=1' })
    const chunked = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(body.slice(0, 100)))
        controller.enqueue(new TextEncoder().encode(body.slice(100)))
        controller.close()
      },
    })
    const init = { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: chunked, duplex: 'half' } as RequestInit
    expect((await (await fetch(url + '/flameup', init)).json()).text).toBe(body)
  })
  it('ignores X-Forwarded-Proto/-Host unless trustProxy is set, and then takes the last entry (one hop)', async () => {
    // A client that sends them could otherwise pick the origin the proxy believes is its own, and
    // make its foreign page "same-origin".
    const url = await listen(async (request) => new Response(request.url))
    const forged = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example' }
    expect(await (await fetch(url + '/flameup', { headers: forged })).text()).toBe(url + '/flameup')
    server!.closeAllConnections()
    await new Promise((resolve) => server!.close(resolve))

    const behind = await listen(async (request) => new Response(request.url), { trustProxy: true })
    // The proxy in front appends what it saw to what the client wrote: only the last entry is its own.
    const viaProxy = { 'X-Forwarded-Proto': 'http, https', 'X-Forwarded-Host': 'evil.example, shop.example' }
    expect(await (await fetch(behind + '/flameup', { headers: viaProxy })).text()).toBe('https://shop.example/flameup')
    expect(await (await fetch(behind + '/flameup')).text()).toBe(behind + '/flameup')
  })
})
