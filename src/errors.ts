export type FlameupErrorCode = 'invalid_config' | 'invalid_argument'

/** Thrown or rejected only for the caller's own mistakes; delivery outcomes are events. */
export class FlameupError extends Error {
  readonly code: FlameupErrorCode
  /** The config key or argument at fault, e.g. `email` or `traits.plan`. */
  readonly field?: string

  constructor(code: FlameupErrorCode, field: string | undefined, message: string) {
    super(message)
    this.name = 'FlameupError'
    this.code = code
    this.field = field
  }
}
