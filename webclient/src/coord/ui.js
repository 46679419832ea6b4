// Small shared pieces of the coordinator pages: server calls, saving without losing an edit, files, tables.

import { A, draftKey } from '../app.js';
import { h } from '../dom.js';
import { C } from './strings.js';

let styled = false;
export function loadStyle() {
  if (styled) return;
  styled = true;
  document.head.append(h('link', { rel: 'stylesheet', href: 'css/coord.css' }));
}

export const api = (method, path, body) => A.api.request(method, path, body);

// Projects the caller manages (coordinator there, or every project for an admin).
export async function managedProjects() {
  const all = await api('GET', '/projects');
  return all.filter((p) => A.me.user.is_admin || p.my_role === 'coordinator');
}

// A clear sentence for a failed request (the server's own detail when it gave one).
export function explain(err) {
  if (!err || err.status === 0) return C.offline;
  if (err.status === 401) return C.loginEnded;
  if (err.status === 403) return C.forbidden;
  return err.detail || C.failed;
}

export function problem(err) {
  return h('p', { class: 'error', role: 'alert' }, explain(err));
}

// Runs `save` for a form: the button is busy while it runs, success and failure are announced next to it.
// On failure nothing on the page is reset, so the edit is still there to try again; drafts (below) also
// survive a reload.
export async function saving(button, status, save) {
  button.disabled = true;
  status.className = 'status';
  status.textContent = C.saving;
  try {
    const result = await save();
    status.className = 'status saved';
    status.textContent = C.saved;
    return result;
  } catch (err) {
    status.className = 'status error';
    status.setAttribute('role', 'alert');
    status.textContent = `${C.notSaved} ${explain(err)}`;
    throw err;
  } finally {
    button.disabled = false;
  }
}

export const statusLine = (id) => h('p', { class: 'status', id, 'aria-live': 'polite' });

// An unsaved edit kept in localStorage until the server has it: `draft.bind(form)` restores and records
// every named field; `draft.clear()` after a successful save.
export function draft(key) {
  const storeKey = draftKey(key);
  return {
    bind(form) {
      const saved = JSON.parse(localStorage.getItem(storeKey) || 'null');
      if (saved) {
        for (const [name, value] of Object.entries(saved)) {
          const el = form.elements.namedItem(name);
          if (el && 'value' in el) el.value = value;
        }
      }
      form.addEventListener('input', () => {
        const data = {};
        for (const el of form.elements) if (el.name && 'value' in el && el.type !== 'file') data[el.name] = el.value;
        localStorage.setItem(storeKey, JSON.stringify(data));
      });
      return Boolean(saved);
    },
    clear: () => localStorage.removeItem(storeKey),
  };
}

// fetch with the session's token; a failed answer throws with its status, code, detail and whole body.
export async function authFetch(path, init = {}) {
  const headers = { ...(init.headers || {}), Authorization: `Bearer ${A.session.token}` };
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { ...init, headers, cache: 'no-store', credentials: 'omit' });
  } catch (err) {
    throw Object.assign(new Error(String(err)), { status: 0 });
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw Object.assign(new Error(body.detail || res.statusText), { status: res.status, code: body.code, detail: body.detail, body });
  }
  return res;
}

// A GET of a list that says its full size in X-Total-Count (the consent register): { items, total }.
export async function apiPage(path) {
  const res = await authFetch(path);
  return { items: await res.json(), total: Number(res.headers.get('X-Total-Count')) || 0 };
}

// A form whose submit runs `save` through saving() (its own button and status line); `done(result)` after.
export function saveForm(props, kids, save, { label = C.save, cls = 'primary', done, leaves = false } = {}) {
  const button = h('button', { type: 'submit', class: cls }, label);
  const status = h('p', { class: 'status', 'aria-live': 'polite' });
  return h('form', {
    ...props,
    onsubmit: async (e) => {
      e.preventDefault();
      let result;
      try { result = await saving(button, status, save); } catch { return; }
      // `leaves`: done goes to another screen. The button stays held until it does: the second click of a double
      // click that came after a quick answer, before the next screen was drawn, made a second record.
      if (leaves) button.disabled = true;
      if (done) done(result);
    },
  }, kids, h('div', { class: 'co-save' }, button, status));
}

// Downloads a file the server builds (exports, codebooks, a participant's data) under the server's name.
export async function download(path, fallbackName) {
  const res = await authFetch(path);
  const disposition = res.headers.get('Content-Disposition') || '';
  const name = (disposition.match(/filename="?([^";]+)"?/) || [])[1] || fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}

// Sends a file's text as the request body (e.g. a codebook to import) and returns the JSON answer.
export async function upload(path, text, contentType) {
  const res = await authFetch(path, { method: 'POST', body: text, headers: { 'Content-Type': contentType } });
  return res.json();
}

// A plain table: columns are [heading, (row) => cell]. Wide tables scroll inside their box on a tablet.
// The box a table scrolls sideways in when wider than the screen: focusable and named, so a keyboard reaches it.
export function tableBox(caption, tableEl) {
  return h('div', { class: 'co-table', tabindex: '0', role: caption ? 'region' : null, 'aria-label': caption || null }, tableEl);
}

export function table(columns, rows, { id, caption, rowProps } = {}) {
  return tableBox(caption, h('table', { id },
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, columns.map(([head]) => h('th', { scope: 'col' }, head)))),
    h('tbody', {}, rows.map((row) => h('tr', rowProps ? rowProps(row) : {}, columns.map(([, cell]) => h('td', {}, cell(row))))))));
}

export const fmtDate = (iso) => (iso ? new Date(iso).toLocaleDateString([], { dateStyle: 'medium' }) : '');
