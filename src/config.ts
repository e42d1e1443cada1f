import { FlameupError } from './errors'
import type { FlameupConfig } from './types'

export const DEFAULT_API_HOST = 'https://api.flameup.ai'

/** The config with every default applied and the transport decided. */
export interface Settings {
  /** Where batches go in proxy mode; undefined in direct mode. */
  proxyUrl?: string
  /** Direct mode: the people endpoint and the headers to send it. */
  peopleUrl: string
  headers: Record<string, string>
  batchSize: number
  flushInterval: number
  retryBaseDelay: number
  retryMaxDelay: number
  maxAttempts: number
  maxQueueSize: number
  storage: 'indexeddb' | 'memory'
  debug?: boolean
}

const invalid = (field: string, why = 'is invalid') => new FlameupError('invalid_config', field, field + ' ' + why)

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
  if (!config || typeof config != 'object') throw invalid('config')
  const { proxyUrl, workspaceId, apiKey, apiHost, storage = 'indexeddb' } = config
  const settings = { ...config, storage, headers: { 'Content-Type': 'application/json' } } as unknown as Settings
  for (const [key, [fallback, min]] of Object.entries(NUMBERS)) {
    const value = ((settings as any)[key] ??= fallback)
    if (!Number.isInteger(value) || value < min) throw invalid(key)
  }
  if (storage != 'indexeddb' && storage != 'memory') throw invalid('storage')
  for (const key of ['proxyUrl', 'workspaceId', 'apiKey', 'apiHost'] as const)
    if (config[key] !== undefined && (typeof config[key] != 'string' || !config[key])) throw invalid(key)
  if (proxyUrl) {
    if (workspaceId ?? apiKey ?? apiHost) throw invalid('proxyUrl', 'and workspaceId exclude each other')
    return settings
  }
  if (!workspaceId) throw invalid('workspaceId', 'or proxyUrl (recommended) is required')
  // Without a key the default host would answer 401 forever; a custom host may add the header itself.
  if (!apiKey && !apiHost) throw invalid('apiKey', 'is required with the default apiHost')
  if (apiKey) {
    settings.headers.Authorization = 'Bearer ' + apiKey
    console.warn('[flameup] apiKey is public in this page; use proxyUrl to keep it secret')
  }
  settings.peopleUrl =
    (apiHost || DEFAULT_API_HOST).replace(/\/+$/, '') + '/api/v1/workspaces/' + encodeURIComponent(workspaceId) + '/people'
  return settings
}
