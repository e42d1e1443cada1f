/**
 * Calls `onOnline` when the network returns and `onHide` when the page is hidden or unloads
 * (`visibilitychange` is the last event mobile browsers reliably fire; `pagehide` covers the rest).
 * Returns one function that removes every listener, for close().
 */
export const watchPage = (onOnline: () => void, onHide: () => void) => {
  if (typeof document == 'undefined') return () => {}
  const onVisibility = () => document.visibilityState == 'hidden' && onHide()
  const hooks: [EventTarget, string, () => void][] = [
    [window, 'online', onOnline],
    [window, 'pagehide', onHide],
    [document, 'visibilitychange', onVisibility],
  ]
  hooks.forEach(([target, type, listener]) => target.addEventListener(type, listener))
  return () => hooks.forEach(([target, type, listener]) => target.removeEventListener(type, listener))
}
