import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ChildProcess } from 'node:child_process'
import type { BrowserContext, Page } from 'playwright-core'

export declare const API_KEY: string
export declare const WORKSPACE_ID: string
export declare const WRONG_KEY_PATH: string
export declare const ANY_ORIGIN_PATH: string
export declare const PAGE_ERROR_MARK: string
/** Page script: after `__loseConnections()`, connections opened so far throw InvalidStateError from transaction(). */
export declare const LOSE_CONNECTIONS: string
export declare const PAGE_ERRORS_KEY: string
export declare const FAST: Record<string, unknown>

/** One POST to the stand-in's people endpoint (demo/api.mjs). */
export interface ApiRequest {
  userId?: string
  messageId?: string
  body: unknown
  at: string
  status: number | null
}

export interface Faults {
  status?: number
  statusByUserId?: Record<string, number>
  failRate?: number
  retryAfter?: number
  latencyMs?: number
  hang?: boolean
  down?: boolean
  seed?: number
}

export interface Api {
  url: string
  port: number
  people: Map<string, any>
  requests: ApiRequest[]
  setFaults(faults?: Faults): Faults
  reset(): void
  close(): Promise<void>
}

export interface ProxyRequest {
  path: string
  method: string
  at: number
  messageIds: string[]
  status: number | null
}

export interface Harness {
  api: Api
  origin: string
  proxyRequests: ProxyRequest[]
  pageUrl(config?: Record<string, unknown>, calls?: unknown[][], before?: string): string
  sandboxUrl(config: Record<string, unknown>): string
  tagUrl(dataset?: Record<string, string>, code?: string): string
  otherUrl: string
  accepted(): ApiRequest[]
  deliveredUsers(): number
  duplicates(): { userIds: string[]; messageIds: string[] }
  acceptedCount(userId: string): number
  batchesSent(): number
  sentCounts(): Map<string, number>
  close(): Promise<void>
}

export declare function startHarness(options?: {
  apiKey?: string
  workspaceId?: string
  seed?: number
  upstreamLatency?: [number, number]
  maxBody?: number
}): Promise<Harness>

export declare function startCli(options: {
  apiHost: string
  apiKey?: string
  workspaceId?: string
  allowedOrigins?: string
}): Promise<{ url: string; child: ChildProcess; stderr(): string; close(): Promise<void> }>

export declare const toFetchRequest: (req: IncomingMessage, origin: string) => Promise<Request>
export declare const writeFetchResponse: (response: Response, res: ServerResponse) => Promise<void>
export declare const openPage: (context: BrowserContext, url?: string) => Promise<{ page: Page; errors: string[] }>
export declare const watchErrors: (page: Page) => string[]
export declare const gotoReady: (page: Page, url: string) => Promise<void>
export declare const reloadReady: (page: Page) => Promise<void>
export declare const waitReady: (page: Page) => Promise<unknown>
export declare const identify: (page: Page, userId: string, traits?: Record<string, unknown>) => Promise<void>
export declare const identifyMany: (page: Page, userIds: string[], traits?: Record<string, unknown>) => Promise<void>
export declare const pending: (page: Page) => Promise<number>
export declare const events: (page: Page, name?: 'delivered' | 'dropped' | 'paused') => Promise<any[]>
export declare const waitFor: <T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  options?: { timeout?: number; interval?: number },
) => Promise<T>
