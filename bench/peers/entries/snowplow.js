// Snowplow browser tracker v4, the documented npm setup: newTracker(name, collector).
// Snowplow has no identify call; its equivalent is setUserId(userId) plus an event that carries
// the traits, here a self-describing event. Activity tracking and page views are not enabled.
import { newTracker, setUserId, trackSelfDescribingEvent, flushBuffer } from '@snowplow/browser-tracker'

newTracker('sp', location.origin, { appId: 'bench', platform: 'web' })

window.bench = {
  ready: Promise.resolve(),
  identify: (userId, traits) => {
    setUserId(userId)
    trackSelfDescribingEvent({ event: { schema: 'iglu:com.example/identify/jsonschema/1-0-0', data: traits } })
  },
  flush: () => flushBuffer(),
}
