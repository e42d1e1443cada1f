// Amplitude Browser SDK 2, the documented npm setup: amplitude.init(apiKey, { serverUrl }).
// Autocapture (page views, sessions, attribution, forms, clicks, ...) is off; it is unrelated to identify.
// Identify is the documented identify(new Identify().set(...), { user_id }): the user id goes in the
// event options, because setUserId() is read only when the event is processed, after the call returns,
// so back-to-back setUserId + identify calls for different users would all get the last user id.
import * as amplitude from '@amplitude/analytics-browser'

const init = amplitude.init('bench_api_key', {
  serverUrl: `${location.origin}/2/httpapi`,
  autocapture: false,
})

window.bench = {
  ready: init.promise,
  identify: (userId, traits) => {
    const identify = new amplitude.Identify()
    for (const key in traits) identify.set(key, traits[key])
    return amplitude.identify(identify, { user_id: userId }).promise
  },
  flush: () => amplitude.flush().promise,
}
