// The audit log: who did what and when in this project, filtered in the URL's query, newest first, a page at a
// time (the server's cursor). The log holds ids and counts, never content; this page shows only those.

import { go } from '../app.js';
import { h, field, fmtDateTime } from '../dom.js';
import { C } from './strings.js';
import { api, problem, table } from './ui.js';

const T = C.aud;
// Detail keys whose values are names of fields, roles or scopes (never what someone said); numbers and
// yes/no values are shown for any key.
const WORDS = new Set(['fields', 'role', 'removed_scopes', 'scopes', 'expires_on', 'version', 'event', 'keys', 'audience']);

function details(detail) {
  return Object.entries(detail || {}).filter(([k, v]) => typeof v === 'number' || typeof v === 'boolean'
    || (WORDS.has(k) && (typeof v === 'string' || Array.isArray(v))))
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'boolean' ? (v ? C.yes : C.no) : v}`)
    .join('; ');
}

export async function page(ctx) {
  const { project, query } = ctx;
  const params = new URLSearchParams({ limit: 50 });
  if (query.get('who')) params.set('actor_id', query.get('who'));
  if (query.get('what')) params.set('action', query.get('what'));
  if (query.get('from')) params.set('since', new Date(`${query.get('from')}T00:00`).toISOString());
  if (query.get('to')) params.set('until', new Date(new Date(`${query.get('to')}T00:00`).getTime() + 864e5).toISOString());
  if (query.get('cursor')) params.set('cursor', query.get('cursor'));
  let res; let members;
  try {
    [res, members] = await Promise.all([api('GET', `/projects/${project.id}/audit?${params}`),
      api('GET', `/projects/${project.id}/members`)]);
  } catch (err) {
    return h('div', {}, h('h1', {}, T.title), problem(err));
  }
  const pick = (name, any, options) => h('select', { name }, h('option', { value: '' }, any),
    options.map(([value, label]) => h('option', { value, selected: query.get(name) === value }, label)));
  const date = (name) => h('input', { type: 'date', name, value: query.get(name) || '' });
  const form = h('form', { class: 'co-filters', id: 'audit-filters', onsubmit: (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const key of ['who', 'what', 'from', 'to']) if (form.elements[key].value) next.set(key, form.elements[key].value);
    go(ctx.href('audit', next.toString() ? `?${next}` : ''));
  } },
  field(T.who, pick('who', T.anyone, members.map((m) => [m.user_id, m.email || m.display_name]))),
  field(T.what, pick('what', T.anything, Object.entries(T.actions))),
  field(T.from, date('from')), field(T.to, date('to')),
  h('div', {}, h('button', { type: 'submit', class: 'primary' }, T.filter), h('a', { class: 'button', href: ctx.href('audit') }, T.clear)));

  const rows = res.items.length ? table([
    [T.when, (e) => fmtDateTime(e.at)],
    [T.who, (e) => e.actor_email || (e.client_name ? T.client(e.client_name) : T.system)],
    [T.what, (e) => T.actions[e.action] || e.action],
    [T.entity, (e) => [T.entities[e.entity] || e.entity, e.entity_id ? h('span', { class: 'hint' }, ` ${e.entity_id.slice(0, 8)}`) : '']],
    [T.detail, (e) => details(e.detail)],
  ], res.items, { id: 'audit-table' }) : h('p', { class: 'notice' }, T.noneFound);
  const q = new URLSearchParams(query);
  const more = res.next_cursor ? (q.set('cursor', res.next_cursor), ctx.href('audit', `?${q}`)) : null;
  q.delete('cursor');
  return h('div', { id: 'audit' }, h('h1', {}, T.title), h('p', { class: 'hint' }, T.intro), form, rows,
    h('p', { class: 'co-pager' }, query.get('cursor') ? h('a', { class: 'button small', href: ctx.href('audit', q.toString() ? `?${q}` : '') }, T.newest) : null,
      more ? h('a', { class: 'button small', href: more }, T.older) : null));
}
