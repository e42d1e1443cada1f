import { FlameupError } from './errors'
import type { FlameupConfig } from './types'

export const DEFAULT_API_HOST = 'https://api.flameup.ai'

/** The config with every default applied and the transport decided. */
export interface Settings {
  /** Where batches go in proxy mode; undefined in direct mode. */
  proxyUrl?: string
  /** Direct mode: the people endpoint, and the key it may need. */
  _peopleUrl: string
  apiKey?: string
  batchSize: number
  flushInterval: number
  retryBaseDelay: number
  retryMaxDelay: number
  maxAttempts: number
  maxQueueSize: number
  storage: 'indexeddb' | 'memory'
  debug?: boolean
}

// A declaration, not an arrow: TypeScript narrows after a call only to a declared `never` function.
function invalid(field: string, why = 'is invalid'): never {
  throw new FlameupError('invalid_config', field, field + ' ' + why)
}

// Whole numbers, with their default and smallest allowed value.
const NUMBERS = {
  batchSize: [50, 1],
  flushInterval: [1000, 0],
  retryBaseDelay: [1000, 0],
  retryMaxDelay: [60000, 0],
  maxAttempts: [10, 1],
  maxQueueSize: [1000, 1],
}

/** Applies the contract defaults; throws `invalid_config` naming the key unless exactly one transport is set. */
export const resolveConfig = (config: FlameupConfig): Settings => {
  // A missing or non-object config spreads to {} and fails below for lack of a transport.
  // null means "use the default", as undefined does.
  const settings: any = { ...config }
  for (const [key, [fallback, min]] of Object.entries(NUMBERS))
    if (!(Number.isInteger((settings[key] ??= fallback)) && settings[key] >= min)) invalid(key)
  if (!['indexeddb', 'memory'].includes((settings.storage ??= 'indexeddb'))) invalid('storage')
  for (const key of ['proxyUrl', 'workspaceId', 'apiKey', 'apiHost'])
    if (settings[key] != null && (typeof settings[key] != 'string' || !settings[key])) invalid(key)
  const { proxyUrl, workspaceId, apiKey, apiHost } = settings
  if (proxyUrl) {
    if (workspaceId ?? apiKey ?? apiHost) invalid('proxyUrl')
    return settings
  }
  if (!workspaceId) invalid('workspaceId', 'or proxyUrl is required')
  // Without a key the default host would answer 401 forever; a custom host may add the header itself.
  if (!apiKey && !apiHost) invalid('apiKey')
  if (apiKey) console.warn('[flameup]', 'apiKey is public')
  settings._peopleUrl = (apiHost || DEFAULT_API_HOST).replace(/\/+$/, '') + '/api/v1/workspaces/' + encodeURIComponent(workspaceId) + '/people'
  return settings
}
