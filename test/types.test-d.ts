import { describe, expectTypeOf, it } from 'vitest'
import {
  createFlameup,
  FlameupError,
  type DeliveredEvent,
  type DropReason,
  type DroppedEvent,
  type Flameup,
  type FlameupConfig,
  type FlameupDirectConfig,
  type FlameupProxyConfig,
  type FlameupErrorCode,
  type FlameupEventName,
  type FlameupEvents,
  type IdentifyOptions,
  type IdentifyResult,
  type PausedEvent,
  type Person,
  type Traits,
} from '../src/index'

declare const flameup: Flameup

describe('createFlameup', () => {
  it('takes a FlameupConfig and returns a Flameup', () => {
    expectTypeOf(createFlameup).parameters.toEqualTypeOf<[FlameupConfig]>()
    expectTypeOf(createFlameup).returns.toEqualTypeOf<Flameup>()
  })

  it('has exactly the config keys of the contract', () => {
    expectTypeOf<keyof FlameupConfig>().toEqualTypeOf<
      | 'proxyUrl'
      | 'workspaceId'
      | 'apiKey'
      | 'apiHost'
      | 'batchSize'
      | 'flushInterval'
      | 'retryBaseDelay'
      | 'retryMaxDelay'
      | 'maxAttempts'
      | 'maxQueueSize'
      | 'storage'
      | 'debug'
    >()
    expectTypeOf<{}>().not.toExtend<FlameupConfig>()
    expectTypeOf<{ proxyUrl: string }>().toExtend<FlameupConfig>()
    expectTypeOf<{ workspaceId: string; apiKey: string }>().toExtend<FlameupConfig>()
    expectTypeOf<FlameupConfig>().toEqualTypeOf<FlameupProxyConfig | FlameupDirectConfig>()
    expectTypeOf<FlameupConfig['storage']>().toEqualTypeOf<'indexeddb' | 'memory' | undefined>()
    expectTypeOf<FlameupConfig['batchSize']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<FlameupConfig['debug']>().toEqualTypeOf<boolean | undefined>()
  })

  it('rejects wrong config values', () => {
    // @ts-expect-error storage is 'indexeddb' or 'memory'
    createFlameup({ proxyUrl: '/flameup', storage: 'localStorage' })
    // @ts-expect-error batchSize is a number
    createFlameup({ proxyUrl: '/flameup', batchSize: '50' })
    // @ts-expect-error unknown key
    createFlameup({ proxyUrl: '/flameup', flushIntervall: 10 })
    // @ts-expect-error a config is required
    createFlameup()
  })

  it('takes exactly one transport (CONTRACT §3: else invalid_config at run time)', () => {
    createFlameup({ proxyUrl: '/flameup' })
    createFlameup({ proxyUrl: 'https://example.com/flameup', batchSize: 20, debug: true })
    createFlameup({ workspaceId: 'ws_1', apiKey: 'sk_test' })
    createFlameup({ workspaceId: 'ws_1', apiHost: 'https://people.example.com' })
    // @ts-expect-error no transport
    createFlameup({})
    // @ts-expect-error no transport, only delivery settings
    createFlameup({ batchSize: 10 })
    // @ts-expect-error both transports
    createFlameup({ proxyUrl: '/flameup', workspaceId: 'ws_1' })
    // @ts-expect-error a key goes with direct mode only
    createFlameup({ proxyUrl: '/flameup', apiKey: 'sk_test' })
    // @ts-expect-error apiHost goes with direct mode only
    createFlameup({ proxyUrl: '/flameup', apiHost: 'https://api.flameup.ai' })
    const both = { proxyUrl: '/flameup', workspaceId: 'ws_1' }
    // @ts-expect-error both transports, through a variable as well
    createFlameup(both)
  })
})

describe('Flameup', () => {
  it('has the methods of the contract', () => {
    expectTypeOf<keyof Flameup>().toEqualTypeOf<'identify' | 'flush' | 'on' | 'pending' | 'optOut' | 'optIn' | 'close'>()
    expectTypeOf(flameup.identify).toEqualTypeOf<(userId: string, traits?: Traits, options?: IdentifyOptions) => Promise<IdentifyResult>>()
    expectTypeOf(flameup.flush).toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(flameup.pending).toEqualTypeOf<() => Promise<number>>()
    expectTypeOf(flameup.optOut).toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(flameup.optIn).toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(flameup.close).returns.toEqualTypeOf<void>()
  })

  it('identify takes a userId and optional traits', () => {
    flameup.identify('u_1')
    flameup.identify('u_1', { email: 'ann@example.com', first_name: 'Ann', plan: 'pro', seats: 3, tags: ['a'] })
    // @ts-expect-error userId is required
    flameup.identify()
    // @ts-expect-error userId is a string
    flameup.identify(123)
    // @ts-expect-error traits are an object
    flameup.identify('u_1', 'pro')
    // @ts-expect-error email is a string
    flameup.identify('u_1', { email: 42 })
    // @ts-expect-error first_name is a string
    flameup.identify('u_1', { first_name: true })
  })

  it("identify takes { userHash } as its third argument and resolves with what became of the call", () => {
    flameup.identify('u_1', {}, { userHash: 'ab12' })
    flameup.identify('u_1', undefined, {})
    expectTypeOf<IdentifyResult>().toEqualTypeOf<'queued' | 'skipped' | 'opted_out'>()
    expectTypeOf<IdentifyOptions>().toEqualTypeOf<{ userHash?: string }>()
    // @ts-expect-error userHash is a string
    flameup.identify('u_1', {}, { userHash: 42 })
    // @ts-expect-error the third argument is the options object, not a time
    flameup.identify('u_1', {}, Date.now())
    // @ts-expect-error no fourth argument in the public type
    flameup.identify('u_1', {}, {}, 1)
  })

  it('types each event payload', () => {
    flameup.on('delivered', (event) => {
      expectTypeOf(event).toEqualTypeOf<DeliveredEvent>()
      expectTypeOf(event.messageId).toEqualTypeOf<string>()
      expectTypeOf(event.userId).toEqualTypeOf<string>()
      expectTypeOf(event.person).toEqualTypeOf<Person | undefined>()
    })
    flameup.on('dropped', (event) => {
      expectTypeOf(event).toEqualTypeOf<DroppedEvent>()
      expectTypeOf(event.reason).toEqualTypeOf<DropReason>()
      expectTypeOf(event.status).toEqualTypeOf<number | undefined>()
    })
    flameup.on('paused', (event) => {
      expectTypeOf(event).toEqualTypeOf<PausedEvent>()
      expectTypeOf(event.reason).toEqualTypeOf<'unauthorized' | 'offline'>()
    })
    expectTypeOf<DropReason>().toEqualTypeOf<'rejected' | 'max_attempts' | 'queue_full' | 'expired'>()
    expectTypeOf<FlameupEventName>().toEqualTypeOf<'delivered' | 'dropped' | 'paused'>()
    expectTypeOf<FlameupEvents['delivered']>().toEqualTypeOf<DeliveredEvent>()
  })

  it('on returns an unsubscribe function', () => {
    expectTypeOf(flameup.on('delivered', () => {})).toEqualTypeOf<() => void>()
  })

  it('rejects unknown events and mismatched listeners', () => {
    // @ts-expect-error no such event
    flameup.on('sent', () => {})
    // @ts-expect-error a delivered event has no reason
    flameup.on('delivered', (event) => event.reason)
    // @ts-expect-error a paused event has no userId
    flameup.on('paused', (event: DroppedEvent) => event.userId)
  })

  it('types Person fields from the API', () => {
    expectTypeOf<Person['id']>().toEqualTypeOf<string>()
    expectTypeOf<Person['external_id']>().toEqualTypeOf<string>()
  })
})

describe('FlameupError', () => {
  it('is an Error with a code and an optional field', () => {
    expectTypeOf<FlameupError>().toExtend<Error>()
    expectTypeOf<FlameupError['code']>().toEqualTypeOf<FlameupErrorCode>()
    expectTypeOf<FlameupErrorCode>().toEqualTypeOf<'invalid_config' | 'invalid_argument'>()
    expectTypeOf<FlameupError['field']>().toEqualTypeOf<string | undefined>()
  })
})
