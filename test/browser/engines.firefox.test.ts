// The shared delivery scenarios (scenarios.ts) in Firefox ESR (puppeteer-core over WebDriver BiDi).
import { engines } from './engines.mjs'
import { deliveryScenarios } from './scenarios'

deliveryScenarios(engines.firefox)
