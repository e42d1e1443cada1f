export { createFlameup } from './client'
export { FlameupError, type FlameupErrorCode } from './errors'
export type {
  DeliveredEvent,
  DropReason,
  DroppedEvent,
  Flameup,
  FlameupConfig,
  FlameupEventName,
  FlameupEvents,
  IdentifyOptions,
  IdentifyResult,
  PausedEvent,
  Person,
  Traits,
} from './types'
