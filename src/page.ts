/**
 * Calls `onOnline` when the network returns and `onHide` when the page is hidden or unloads
 * (`visibilitychange` is the last event mobile browsers reliably fire; `pagehide` covers the rest).
 * Returns one function that removes every listener, for close().
 */
export const watchPage = (onOnline: () => void, onHide: () => void) => {
  if (typeof document == 'undefined') return () => {}
  const onVisibility = () => document.visibilityState == 'hidden' && onHide()
  const listen = (method: 'addEventListener' | 'removeEventListener') => {
    window[method]('online', onOnline)
    window[method]('pagehide', onHide)
    document[method]('visibilitychange', onVisibility)
  }
  listen('addEventListener')
  return () => listen('removeEventListener')
}
