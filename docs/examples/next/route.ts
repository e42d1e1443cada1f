// app/flameup/route.ts: the proxy as a Next.js route handler. Created on the first request, so
// that `next build` works without the key in the build environment.
import { createProxyHandler, type ProxyHandler } from 'flameup/proxy'

let handler: ProxyHandler | undefined

const proxy = (request: Request) => {
  handler ??= createProxyHandler({
    apiKey: process.env.FLAMEUP_API_KEY!,
    workspaceId: process.env.FLAMEUP_WORKSPACE_ID!,
  })
  return handler(request)
}

export const POST = proxy
export const OPTIONS = proxy
