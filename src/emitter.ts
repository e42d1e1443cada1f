import type { FlameupEvents } from './types'

type Listener<T> = (payload: T) => void

/** mitt-sized events, each also logged. A listener that throws is reported asynchronously and never breaks delivery. */
export const createEmitter = (log: (...args: unknown[]) => void) => {
  const listeners: { [E in keyof FlameupEvents]?: Listener<FlameupEvents[E]>[] } = {}
  return {
    on: <E extends keyof FlameupEvents>(event: E, listener: Listener<FlameupEvents[E]>) => {
      ;(listeners[event] ||= [] as any).push(listener)
      return () => {
        listeners[event] = listeners[event]!.filter((other) => other != listener) as any
      }
    },
    emit: <E extends keyof FlameupEvents>(event: E, payload: FlameupEvents[E]) => {
      log(event, payload)
      for (const listener of listeners[event] || [])
        try {
          listener(payload)
        } catch (error) {
          setTimeout(() => {
            throw error
          })
        }
    },
  }
}
