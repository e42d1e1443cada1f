// Mixpanel, the documented npm setup: mixpanel.init(token, { api_host }). Page-view tracking,
// autocapture and session recording are off, so this imports the core loader that Mixpanel's README
// documents for apps without session replay (the default import bundles the recorder).
// Identify is the documented pair: mixpanel.identify(userId), then mixpanel.people.set(traits).
import mixpanel from 'mixpanel-browser/src/loaders/loader-module-core'

const ready = new Promise((resolve) => {
  mixpanel.init('bench_token', {
    api_host: location.origin,
    track_pageview: false,
    autocapture: false,
    record_sessions_percent: 0,
    loaded: () => resolve(),
  })
})

window.bench = {
  ready,
  identify: (userId, traits) => {
    mixpanel.identify(userId)
    mixpanel.people.set(traits)
  },
}
