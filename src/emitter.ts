type Listener<T> = (payload: T) => void

/** mitt-sized events. A listener that throws is reported asynchronously and never breaks delivery. */
export const createEmitter = <Events>() => {
  const listeners: { [E in keyof Events]?: Listener<Events[E]>[] } = {}
  return {
    on: <E extends keyof Events>(event: E, listener: Listener<Events[E]>) => {
      ;(listeners[event] ||= []).push(listener)
      return () => {
        listeners[event] = listeners[event]!.filter((other) => other != listener)
      }
    },
    emit: <E extends keyof Events>(event: E, payload: Events[E]) => {
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
