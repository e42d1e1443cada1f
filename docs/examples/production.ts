// In production: report what the SDK does to your own monitoring instead of the console.
import { createFlameup } from 'flameup'

declare function report(name: string, fields: Record<string, unknown>): void

const flameup = createFlameup({
  proxyUrl: '/flameup',
  // Logs each step to the console: turn on for a session with ?flameup_debug in the URL.
  debug: new URLSearchParams(location.search).has('flameup_debug'),
})

flameup.on('dropped', ({ userId, reason, status }) => report('flameup.dropped', { userId, reason, status }))
flameup.on('paused', ({ reason }) => report('flameup.paused', { reason }))
