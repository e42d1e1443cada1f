import type { BrowserContext } from 'playwright-core'

export declare const CHROMIUM: string
export declare const newProfile: () => string
export declare const launchChromium: (
  profile?: string,
  options?: { keepProfile?: boolean; args?: string[]; bfcache?: boolean },
) => Promise<{ context: BrowserContext; profile: string; close: () => Promise<void> }>
