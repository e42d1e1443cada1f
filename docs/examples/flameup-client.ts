// lib/flameup.ts: one client per page, created on first use in the browser only.
// Importing 'flameup' is safe during server rendering (it opens nothing); createFlameup is not,
// since it listens to the page, so it runs on the first call in the browser.
import { createFlameup, type Flameup } from 'flameup'

let client: Flameup | undefined

/** The page's Flameup client, or undefined during server rendering. */
export const getFlameup = (): Flameup | undefined =>
  typeof window == 'undefined' ? undefined : (client ??= createFlameup({ proxyUrl: '/flameup' }))
