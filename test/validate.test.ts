import { afterEach, describe, expect, it } from 'vitest'
import { FlameupError } from '../src/errors'
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
