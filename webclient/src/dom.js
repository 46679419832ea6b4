// A tiny element builder for the screens: h('button', { onclick }, 'text').

export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v; // through the CSSOM: the CSP refuses style attributes
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

let n = 0;
export const uid = (p) => `${p}-${++n}`;

// A blob's object URL keeps its bytes (a participant's voice, a PDF of their words) in memory until it is revoked,
// whatever the screen shows: on a shared laptop a clip played before a withdrawal stayed playable. The router
// revokes, at each change of screen, those the new screen does not show.
const objectURLs = new Set();
export function objectURL(blob) {
  const url = URL.createObjectURL(blob);
  objectURLs.add(url);
  return url;
}
export function forgetObjectURLs(shown) {
  for (const url of objectURLs) {
    if (shown && shown.querySelector(`[src="${CSS.escape(url)}"], [href="${CSS.escape(url)}"]`)) continue;
    URL.revokeObjectURL(url);
    objectURLs.delete(url);
  }
}
// A file for a tab of its own (a PDF): that tab has loaded it within the minute, and the URL then goes.
export function openFile(blob) {
  const url = URL.createObjectURL(blob);
  window.open(url, '_blank');
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// A labelled field: the label is tied to the control so screen readers read them together.
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid('f');
  const kids = [h('label', { for: control.id }, labelText)];
  if (hint) {
    const hid = uid('hint');
    control.setAttribute('aria-describedby', hid);
    kids.push(h('p', { class: 'hint', id: hid }, hint));
  }
  return h('div', { class: 'field' }, kids, control);
}

export function fmtTime(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function fmtDateTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

// ISO 8601 with this phone's UTC offset, e.g. 2026-11-23T14:05:00+00:00.
export function isoNow(d = new Date()) {
  const pad = (x) => String(Math.abs(x)).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:` +
    `${pad(d.getSeconds())}${sign}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`;
}
