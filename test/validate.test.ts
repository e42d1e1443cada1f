import { afterEach, describe, expect, it } from 'vitest'
import { FlameupError } from '../src/errors'
import { checkItem } from '../src/proxy/item'
import { validateIdentify } from '../src/validate'
import { client, closeAll, items, queued, stubFetch, useClock } from './helpers'

afterEach(closeAll)

/** Runs validateIdentify and returns what it threw (or fails the test when it does not throw). */
const rejection = (userId: unknown, traits?: unknown) => {
  try {
    validateIdentify(userId, traits)
  } catch (error) {
    expect(error).toBeInstanceOf(FlameupError)
    expect(error).toMatchObject({ name: 'FlameupError', code: 'invalid_argument' })
    expect((error as FlameupError).message).not.toBe('')
    return error as FlameupError
  }
  throw new Error('expected validateIdentify to throw')
}

const accepts = (userId: unknown, traits?: unknown) => expect(() => validateIdentify(userId, traits)).not.toThrow()

/** A traits object whose call JSON is about `size` UTF-8 bytes, made of `char`. */
const ofBytes = (size: number, char = 'a') => ({ blob: char.repeat(Math.floor(size / new TextEncoder().encode(char).length)) })

describe('validateIdentify: userId', () => {
  it.each([
    ['an empty string', ''],
    ['whitespace only', ' \t\n '],
    ['a number', 42],
    ['undefined', undefined],
    ['null', null],
    ['an object', { id: 'u_1' }],
  ])('rejects %s', (_, userId) => {
    expect(rejection(userId).field).toBe('userId')
  })

  it.each(['undefined', 'null'])('rejects the string "%s"', (userId) => {
    expect(rejection(userId).field).toBe('userId')
  })

  it('rejects more than 255 characters and accepts exactly 255', () => {
    expect(rejection('u'.repeat(256)).field).toBe('userId')
    accepts('u'.repeat(255))
  })

  it('accepts unicode and surrounding text', () => {
    accepts('ユーザー_1')
    accepts('ann@example.com')
    accepts('null_user')
  })
})

describe('validateIdentify: email', () => {
  it.each(['not-an-email', 'ann@', '@example.com', 'ann@example', 'ann @example.com', 'ann@@example.com'])(
    'rejects %j',
    (email) => {
      expect(rejection('u_1', { email }).field).toBe('email')
    },
  )

  it.each([[42], [null], [{}], [['a@b.co']]])('rejects a non-string email %j', (email) => {
    expect(rejection('u_1', { email }).field).toBe('email')
  })

  it('accepts ordinary and unicode addresses', () => {
    accepts('u_1', { email: 'ann@example.com' })
    accepts('u_1', { email: 'ann.lee+tag@sub.example.co.uk' })
    accepts('u_1', { email: 'zoë@exämple.de' })
  })

  it('accepts a missing email', () => {
    accepts('u_1', { first_name: 'Ann' })
    accepts('u_1')
  })
})

describe('validateIdentify: traits', () => {
  class Person {
    name = 'Ann'
  }

  it.each([
    ['an array', ['a']],
    ['a Date', new Date(0)],
    ['a class instance', new Person()],
    ['a Map', new Map()],
    ['a string', 'pro'],
    ['a number', 1],
    ['null', null],
  ])('rejects %s', (_, traits) => {
    expect(rejection('u_1', traits).field).toBe('traits')
  })

  it('accepts a plain object, an object without prototype, and no traits', () => {
    accepts('u_1', { plan: 'pro', nested: { a: [1, 'x', null, true] } })
    accepts('u_1', Object.assign(Object.create(null), { plan: 'pro' }))
    accepts('u_1', {})
    accepts('u_1', undefined)
  })

  it.each([
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a bigint', 10n],
  ])('rejects %s as a value, naming the trait', (_, value) => {
    expect(rejection('u_1', { bad: value }).field).toMatch(/^traits\b.*bad/)
  })

  it.each([
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a bigint', 10n],
  ])('rejects %s nested in objects and arrays', (_, value) => {
    expect(rejection('u_1', { outer: { inner: value } }).field).toMatch(/^traits/)
    expect(rejection('u_1', { list: [1, value] }).field).toMatch(/^traits/)
  })

  it('rejects cycles, direct and nested', () => {
    const direct: Record<string, unknown> = {}
    direct.self = direct
    expect(rejection('u_1', direct).field).toMatch(/^traits/)
    const nested: Record<string, any> = { a: { b: {} } }
    nested.a.b.back = nested.a
    expect(rejection('u_1', nested).field).toMatch(/^traits/)
  })

  it('accepts the same object twice (shared, not cyclic)', () => {
    const shared = { city: 'Oslo' }
    accepts('u_1', { home: shared, work: shared })
  })
})

/**
 * Traits `levels` deep, counted as the proxy counts them (src/proxy/item.ts): the traits object
 * is level 1, and every object or array inside it one level more. `arrays`: every even level is an array.
 */
const nested = (levels: number, arrays = false) => {
  let value: unknown = { leaf: 'x' }
  for (let level = levels - 1; level > 0; level--) value = arrays && level % 2 == 0 ? [value] : { a: value }
  return value as Record<string, unknown>
}

describe('validateIdentify: depth and prototype keys (contract §3)', () => {
  it('accepts traits 32 levels deep and rejects 33, objects only or with arrays', () => {
    for (const arrays of [false, true]) {
      accepts('u_1', nested(32, arrays))
      expect(rejection('u_1', nested(33, arrays)).field).toMatch(/^traits/)
    }
  })

  it('rejects thousands of levels without overflowing the stack', () => {
    expect(rejection('u_1', nested(100_000)).field).toMatch(/^traits/)
  })

  it('agrees with the proxy on depth: what identify() accepts the proxy forwards, what it refuses the proxy refuses', () => {
    for (const arrays of [false, true])
      for (const levels of [31, 32, 33, 34]) {
        const traits = nested(levels, arrays)
        const browser = (() => {
          try {
            return !!validateIdentify('u_1', traits)
          } catch {
            return false
          }
        })()
        const proxy = Array.isArray(checkItem({ messageId: 'm_1', userId: 'u_1', traits } as any))
        expect([levels, arrays, browser]).toEqual([levels, arrays, proxy])
        expect(browser).toBe(levels <= 32)
      }
  })

  it.each(['__proto__', 'constructor', 'prototype'])('rejects the key %s at the top, nested in objects and in arrays', (key) => {
    // JSON.parse makes "__proto__" an own key, as a server's JSON would; an object literal would set the prototype instead.
    const own = () => JSON.parse('{"' + key + '": {"polluted": true}}')
    expect(rejection('u_1', own()).field).toBe('traits.' + key)
    expect(rejection('u_1', { plan: 'pro', outer: { inner: own() } }).field).toMatch(new RegExp('^traits.*' + key))
    expect(rejection('u_1', { list: [1, own()] }).field).toMatch(new RegExp('^traits.*' + key))
    expect(rejection('u_1', { [key]: 1 }).field).toBe('traits.' + key)
  })

  it('accepts those words as values and inside longer keys', () => {
    accepts('u_1', { role: 'constructor', tags: ['__proto__', 'prototype'], prototype_url: 'x', my_constructor: 1 })
  })
})

describe('validateIdentify: size', () => {
  it('accepts a call of about 30 KB and rejects one over 32 KB', () => {
    accepts('u_1', ofBytes(30_000))
    expect(rejection('u_1', ofBytes(33_000)).field).toBe('traits')
  })

  it.each([
    ['2-byte', 'é'],
    ['3-byte', '€'],
    ['4-byte', '😀'],
  ])('counts UTF-8 bytes, not characters (%s characters)', (_, char) => {
    // Fewer than 32,768 UTF-16 units, but more than 32 KB once encoded.
    const traits = ofBytes(33_000, char)
    expect(traits.blob.length).toBeLessThan(32_768)
    expect(rejection('u_1', traits).field).toBe('traits')
    accepts('u_1', ofBytes(30_000, char))
  })

  it('counts the email too', () => {
    expect(rejection('u_1', { ...ofBytes(32_700), email: 'a'.repeat(200) + '@example.com' }).field).toBeDefined()
  })
})

describe('identify', () => {
  it('rejects bad input with the FlameupError and queues nothing', async () => {
    const flameup = client({ proxyUrl: '/flameup', storage: 'indexeddb' })
    const bad: [unknown, unknown][] = [
      ['', undefined],
      ['undefined', undefined],
      ['u_1', { email: 'nope' }],
      ['u_1', []],
      ['u_1', { f: () => 1 }],
      ['u_1', ofBytes(40_000)],
      ['u_1', nested(33)],
      ['u_1', JSON.parse('{"a":{"__proto__":{"admin":true}}}')],
    ]
    for (const [userId, traits] of bad)
      await expect((flameup.identify as any)(userId, traits)).rejects.toMatchObject({ name: 'FlameupError', code: 'invalid_argument' })
    expect(await flameup.pending()).toBe(0)
    expect(await queued()).toEqual([])
  })

  it('rejects synchronously-checked input without waiting for storage', async () => {
    const flameup = client()
    const result = flameup.identify('')
    // The rejection is already decided: it settles before any IndexedDB work could finish.
    let settled = false
    result.catch(() => (settled = true))
    await Promise.resolve()
    await Promise.resolve()
    expect(settled).toBe(true)
  })

  it('sends traits.email as the top-level email and every other key as traits', async () => {
    useClock()
    const sent = stubFetch()
    const flameup = client()
    await flameup.identify('u_1', { email: 'ann@example.com', first_name: 'Ann', plan: 'pro' })
    const [stored] = await queued()
    expect(stored).toMatchObject({ userId: 'u_1', email: 'ann@example.com', traits: { first_name: 'Ann', plan: 'pro' } })
    expect(stored.traits).not.toHaveProperty('email')
    await flameup.flush()
    const [item] = items(sent)
    expect(item).toMatchObject({ userId: 'u_1', email: 'ann@example.com', traits: { first_name: 'Ann', plan: 'pro' } })
    expect(item.traits).not.toHaveProperty('email')
  })

  it('sends no email and empty traits when only a userId is given', async () => {
    useClock()
    const sent = stubFetch()
    const flameup = client()
    await flameup.identify('u_1')
    await flameup.flush()
    const [item] = items(sent)
    expect(item).not.toHaveProperty('email')
    expect(item.traits).toEqual({})
  })
})
