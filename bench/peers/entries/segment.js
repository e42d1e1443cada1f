// Segment analytics-next, the documented npm setup: AnalyticsBrowser.load({ writeKey }).
// cdnURL points the settings fetch (and any lazy plugin) at the local stub; the Segment.io
// destination's apiHost/protocol are overridden the documented way (integrations['Segment.io']).
import { AnalyticsBrowser } from '@segment/analytics-next'

const analytics = AnalyticsBrowser.load(
  { writeKey: 'bench_write_key', cdnURL: location.origin },
  { integrations: { 'Segment.io': { apiHost: `${location.host}/v1`, protocol: 'http' } } },
)

window.bench = {
  ready: analytics.then(() => analytics.ready()),
  identify: (userId, traits) => analytics.identify(userId, traits),
}
