// dom.js: a tiny element builder, so no module ever needs innerHTML.
//
// h('div', {class: 'card', 'data-testid': 'x'}, 'text', child) creates an element; strings
// become text nodes (never parsed as HTML), so server data is always safe to pass in.

/** Creates `tag` with attributes `props` and `children` (nodes or strings). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Sets `el`'s text only when it changed (cheap to call ten times a second). */
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

/** The element with `id`; throws if the page skeleton lacks it. */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
}

/** Resizes the uPlot chart `u` to the width of `el` when that width changed (ResizeObserver). */
export function fitWidth(u, el, height) {
  const width = Math.floor(el.clientWidth);
  if (u && width > 0 && width !== u.width) u.setSize({ width, height });
}
