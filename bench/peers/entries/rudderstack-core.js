// Size only, never run: the default export without the plugins it would fetch from RudderStack's
// CDN at runtime. A lower bound for RudderStack's bytes, reported next to the `/bundled` figure.
import { RudderAnalytics } from '@rudderstack/analytics-js'

window.RudderAnalytics = RudderAnalytics
