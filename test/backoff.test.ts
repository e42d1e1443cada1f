import { describe, expect, it } from 'vitest'
import { backoff, parseRetryAfter } from '../src/backoff'

const ALMOST_ONE = 1 - Number.EPSILON

describe('backoff', () => {
  it('is 0 when the random draw is 0 (full jitter starts at zero)', () => {
    for (let attempt = 0; attempt < 12; attempt++) expect(backoff(attempt, 1000, 60000, () => 0)).toBe(0)
  })

  it('stays below base * 2^attempt when the draw is almost 1', () => {
    expect(backoff(0, 1000, 60000, () => ALMOST_ONE)).toBeLessThan(1000)
    expect(backoff(0, 1000, 60000, () => ALMOST_ONE)).toBeGreaterThan(999)
    expect(backoff(3, 1000, 60000, () => ALMOST_ONE)).toBeLessThan(8000)
    expect(backoff(3, 1000, 60000, () => ALMOST_ONE)).toBeGreaterThan(7999)
  })

  it('doubles its upper bound with every attempt', () => {
    const bounds = [0, 1, 2, 3, 4, 5].map((attempt) => backoff(attempt, 1000, 1e9, () => 1))
    expect(bounds).toEqual([1000, 2000, 4000, 8000, 16000, 32000])
  })

  it('scales linearly with the random draw', () => {
    expect(backoff(2, 1000, 60000, () => 0.25)).toBe(1000)
    expect(backoff(2, 1000, 60000, () => 0.5)).toBe(2000)
  })

  it('caps the bound at max, then jitters below it', () => {
    expect(backoff(6, 1000, 60000, () => 1)).toBe(60000)
    expect(backoff(30, 1000, 60000, () => 1)).toBe(60000)
    expect(backoff(30, 1000, 60000, () => 0.5)).toBe(30000)
    expect(backoff(100, 1000, 60000, () => ALMOST_ONE)).toBeLessThanOrEqual(60000)
  })

  it('stays within [0, cap] over many real random draws', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const delay = backoff(attempt, 1000, 60000)
      expect(delay).toBeGreaterThanOrEqual(0)
      expect(delay).toBeLessThanOrEqual(Math.min(60000, 1000 * 2 ** attempt))
    }
  })

  it('uses Math.random by default', () => {
    const original = Math.random
    Math.random = () => 0.5
    try {
      expect(backoff(1, 1000, 60000)).toBe(1000)
    } finally {
      Math.random = original
    }
  })
})

describe('parseRetryAfter', () => {
  const now = Date.UTC(2030, 0, 1, 12, 0, 0)

  it('reads delta-seconds as milliseconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0)
    expect(parseRetryAfter('3', now)).toBe(3000)
    expect(parseRetryAfter('120', now)).toBe(120000)
  })

  it('reads an HTTP date relative to now', () => {
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30_000)
    expect(parseRetryAfter('Tue, 01 Jan 2030 12:02:00 GMT', now)).toBe(120_000)
  })

  it('treats a date in the past as now', () => {
    expect(parseRetryAfter(new Date(now - 60_000).toUTCString(), now)).toBe(0)
  })

  it.each([null, undefined, '', 'soon', 'Tomorrow-ish', 'NaN'])('returns undefined for %j', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined()
  })
})
