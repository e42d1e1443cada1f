// RudderStack JS SDK v3. The default export loads its plugins at runtime from RudderStack's CDN
// as federated modules, and those files are not in the npm package, so this uses the documented
// `/bundled` export: the same SDK with its plugins compiled in. configUrl, destSDKBaseURL and
// pluginsSDKBaseURL point at the local stub, like the data plane.
import { RudderAnalytics } from '@rudderstack/analytics-js/bundled'

const rudderanalytics = new RudderAnalytics()
const ready = new Promise((resolve) => rudderanalytics.ready(() => resolve()))
rudderanalytics.load('bench_write_key', location.origin, {
  configUrl: location.origin,
  destSDKBaseURL: `${location.origin}/rudder/js-integrations`,
  pluginsSDKBaseURL: `${location.origin}/rudder/plugins`,
  logLevel: 'ERROR',
})

window.bench = {
  ready,
  identify: (userId, traits) => rudderanalytics.identify(userId, traits),
}
