// The launcher lives in chromium.mjs so that the browser benchmark, plain Node, can use it too.
export { CHROMIUM, launchChromium, newProfile } from './chromium.mjs'
