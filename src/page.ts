/**
 * Calls `onOnline` when the network returns, `onHide` when the page is hidden or unloads
 * (`visibilitychange` is the last event mobile browsers reliably fire; `pagehide` covers the rest),
 * and `onRestore` when the page comes back from the back/forward cache (`pageshow`, persisted).
 * Returns one function that removes every listener, for close().
 */
export const watchPage = (onOnline: () => void, onHide: () => void, onRestore: () => void) => {
  if (typeof document == 'undefined') return () => {}
  const onVisibility = () => document.visibilityState == 'hidden' && onHide()
  const onShow = (event: Event) => (event as PageTransitionEvent).persisted && onRestore()
  const listen = (method: 'addEventListener' | 'removeEventListener') => {
    window[method]('online', onOnline)
    window[method]('pagehide', onHide)
    window[method]('pageshow', onShow)
    document[method]('visibilitychange', onVisibility)
  }
  listen('addEventListener')
  return () => listen('removeEventListener')
}
