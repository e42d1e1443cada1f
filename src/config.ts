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
  debug: boolean
}

const invalid = (field: string, message: string) => new FlameupError('invalid_config', field, message)

// [key, default, smallest allowed]; all are whole numbers.
const NUMBERS: [keyof Settings & keyof FlameupConfig, number, number][] = [
  ['batchSize', 50, 1],
  ['flushInterval', 1000, 0],
  ['retryBaseDelay', 1000, 0],
  ['retryMaxDelay', 60000, 0],
  ['maxAttempts', 10, 1],
  ['maxQueueSize', 1000, 1],
]

const isText = (value: unknown): value is string => typeof value == 'string' && value != ''

/** Applies the contract defaults; throws `invalid_config` naming the key unless exactly one transport is set. */
export const resolveConfig = (config: FlameupConfig): Settings => {
  if (!config || typeof config != 'object') throw invalid('config', 'config must be an object')
  const { proxyUrl, workspaceId, apiKey, apiHost, storage = 'indexeddb' } = config
  const settings = { storage, debug: !!config.debug, headers: { 'Content-Type': 'application/json' } } as unknown as Settings
  for (const [key, fallback, min] of NUMBERS) {
    const value = config[key] ?? fallback
    if (!Number.isInteger(value) || (value as number) < min) throw invalid(key, key + ' must be a whole number >= ' + min)
    ;(settings as any)[key] = value
  }
  if (storage != 'indexeddb' && storage != 'memory') throw invalid('storage', "storage must be 'indexeddb' or 'memory'")
  if (proxyUrl !== undefined) {
    if (!isText(proxyUrl)) throw invalid('proxyUrl', 'proxyUrl must be a non-empty string')
    if (workspaceId !== undefined || apiKey !== undefined || apiHost !== undefined)
      throw invalid('proxyUrl', 'set proxyUrl or workspaceId, not both')
    settings.proxyUrl = proxyUrl
    return settings
  }
  if (!isText(workspaceId)) throw invalid('workspaceId', 'set proxyUrl (recommended) or workspaceId')
  if (apiHost !== undefined && !isText(apiHost)) throw invalid('apiHost', 'apiHost must be a URL')
  if (apiKey !== undefined && !isText(apiKey)) throw invalid('apiKey', 'apiKey must be a non-empty string')
  // Without a key the default host would answer 401 forever; a custom host may add the header itself.
  if (!apiKey && apiHost === undefined) throw invalid('apiKey', 'direct mode needs apiKey')
  if (apiKey) {
    settings.headers.Authorization = 'Bearer ' + apiKey
    console.warn('[flameup] apiKey is visible to anyone who opens this page; use proxyUrl to keep it secret')
  }
  settings.peopleUrl =
    (apiHost || DEFAULT_API_HOST).replace(/\/+$/, '') + '/api/v1/workspaces/' + encodeURIComponent(workspaceId) + '/people'
  return settings
}
