// The inline loader stub: records each call with its time until dist/flameup.min.js replays them.
// Plain ES5-shaped code so that it runs as-is wherever the page runs, and does nothing the second time.
;((w: any) => {
  if (w.flameup) return
  const q: unknown[] = []
  const stub: any = (w.flameup = { q })
  for (const name of ['init', 'identify', 'flush', 'on', 'optOut', 'optIn'])
    stub[name] = function () {
      q.push([name, arguments, Date.now()])
    }
})(window)
