import { describe, expectTypeOf, it } from 'vitest'
import type { Flameup } from 'flameup'
import type { FlameupGlobal } from 'flameup/global'
import type { Person as ProxyPerson, ProxyItemResult } from 'flameup/proxy'
import type { Person } from 'flameup'

describe('flameup/global (script-tag users)', () => {
  it('types window.flameup and the bare global as the stub', () => {
    expectTypeOf(window.flameup).toEqualTypeOf<FlameupGlobal>()
    expectTypeOf(flameup).toEqualTypeOf<FlameupGlobal>()
  })

  it('has the stub methods of CONTRACT §5, init included, returning nothing until the script loads', () => {
    window.flameup.init({ proxyUrl: '/flameup' })
    expectTypeOf(window.flameup.init).returns.toEqualTypeOf<Flameup | undefined>()
    expectTypeOf(window.flameup.identify('u_1', { plan: 'pro' })).toEqualTypeOf<ReturnType<Flameup['identify']> | undefined>()
    expectTypeOf(window.flameup.flush()).toEqualTypeOf<Promise<void> | undefined>()
    expectTypeOf(window.flameup.optOut()).toEqualTypeOf<Promise<void> | undefined>()
    expectTypeOf(window.flameup.optIn()).toEqualTypeOf<Promise<void> | undefined>()
    window.flameup.on('dropped', (event) => expectTypeOf(event.reason).toEqualTypeOf<'rejected' | 'max_attempts' | 'queue_full' | 'expired'>())
    expectTypeOf(window.flameup.pending).toEqualTypeOf<Flameup['pending'] | undefined>()
  })

  it('checks what the page passes', () => {
    // @ts-expect-error init takes exactly one transport
    window.flameup.init({})
    // @ts-expect-error both transports
    window.flameup.init({ proxyUrl: '/flameup', workspaceId: 'ws_1' })
    // @ts-expect-error userId is a string
    window.flameup.identify(42)
    // @ts-expect-error no such event
    window.flameup.on('sent', () => {})
  })
})

describe('flameup/proxy', () => {
  it('exports Person, the same type its answers carry', () => {
    expectTypeOf<ProxyPerson>().toEqualTypeOf<Person>()
    expectTypeOf<ProxyItemResult['person']>().toEqualTypeOf<Person | undefined>()
  })
})
