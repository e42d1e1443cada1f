/**
 * Creates an element. Children are nodes or strings, and strings always become text nodes:
 * nothing the API or the user sent is ever parsed as HTML.
 */
export const h = (tag, props = {}, ...children) => {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value)
    else if (key == 'class') node.className = value
    else node.setAttribute(key, value === true ? '' : value)
  }
  node.append(...children.flat().filter((child) => child != null && child !== false))
  return node
}

/** A card: a titled section of the page. */
export const card = (title, id, ...children) => h('section', { class: 'card', id }, h('h2', {}, title), ...children)

/** Runs `task` now and then `ms` after each run settles, so slow answers never pile up. */
export const every = (ms, task) => {
  const run = () => Promise.resolve().then(task).catch(() => {}).finally(() => setTimeout(run, ms))
  run()
}
