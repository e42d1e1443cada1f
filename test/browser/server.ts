// The test harness for the Chromium suite. The servers and page helpers live in harness.mjs so
// that the browser benchmark (plain Node) shares them; this adds what only the tests need.
import { expect } from 'vitest'
import type { Harness } from './harness.mjs'

export * from './harness.mjs'

/** Waits until the API has accepted `count` distinct users (bounded polling, never a fixed sleep). */
export const expectDelivered = (harness: Harness, count: number, timeout = 20000) =>
  expect.poll(() => harness.deliveredUsers(), { timeout, interval: 50 }).toBe(count)

/** Every call accepted by the API exactly once: no userId and no messageId twice. */
export const expectNoDuplicates = (harness: Harness) => expect(harness.duplicates()).toEqual({ userIds: [], messageIds: [] })

/** Nothing reached the page uncaught: no exception, no unhandled rejection. */
export const expectNoPageErrors = (...lists: string[][]) => expect(lists.flat()).toEqual([])
