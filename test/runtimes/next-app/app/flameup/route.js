// The Next.js App Router route from docs/proxy.md (there in TypeScript; JavaScript here so that
// `next build` does not install TypeScript types into the project while testing it).
import { createProxyHandler } from 'flameup/proxy'

let handler

// Created on the first request, not when the module loads: `next build` loads this module to
// collect its routes, where the key is (and should be) absent.
const flameup = (request) =>
  (handler ??= createProxyHandler({
    apiKey: process.env.FLAMEUP_API_KEY,
    workspaceId: process.env.FLAMEUP_WORKSPACE_ID,
    // Only for this test: the API stand-in. Leave it out to use https://api.flameup.ai.
    apiHost: process.env.FLAMEUP_API_HOST,
  }))(request)

export const POST = flameup
export const OPTIONS = flameup
