export { createFlameup } from './client'
export { FlameupError, type FlameupErrorCode } from './errors'
export type {
  DeliveredEvent,
  DropReason,
  DroppedEvent,
  Flameup,
  FlameupConfig,
  FlameupDirectConfig,
  FlameupOptions,
  FlameupProxyConfig,
  FlameupEventName,
  FlameupEvents,
  IdentifyOptions,
  IdentifyResult,
  PausedEvent,
  Person,
  Traits,
} from './types'
