// The shared delivery scenarios (scenarios.ts) in WebKitGTK (selenium-webdriver, WebKitWebDriver under Xvfb).
import { engines } from './engines.mjs'
import { deliveryScenarios } from './scenarios'

deliveryScenarios(engines.webkit)
