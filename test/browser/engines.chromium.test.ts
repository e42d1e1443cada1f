// The shared delivery scenarios (scenarios.ts) in Chromium.
import { engines } from './engines.mjs'
import { deliveryScenarios } from './scenarios'

deliveryScenarios(engines.chromium)
