// PostHog, the documented npm setup: posthog.init(token, { api_host }). Features unrelated to
// identify are switched off: autocapture, page views/leaves, session recording, surveys,
// dead clicks, heatmaps, web vitals, exception capture. opt_out_useragent_filter is what PostHog's
// own console message asks for in automated browsers: without it headless Chromium (navigator.webdriver)
// is taken for a bot and every event is dropped.
import posthog from 'posthog-js'

const ready = new Promise((resolve) => {
  posthog.init('phc_bench_token', {
    api_host: location.origin,
    autocapture: false,
    capture_pageview: false,
    capture_pageleave: false,
    disable_session_recording: true,
    disable_surveys: true,
    capture_dead_clicks: false,
    enable_heatmaps: false,
    capture_performance: false,
    capture_exceptions: false,
    opt_out_useragent_filter: true,
    loaded: () => resolve(),
  })
})

window.bench = {
  ready,
  identify: (userId, traits) => posthog.identify(userId, traits),
}
