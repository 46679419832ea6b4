// Search across the project: words plus every filter of GET /fragments, kept in the page's address so a search
// can be bookmarked, shared with another coordinator, or saved for the project.

import { go } from '../app.js';
import { field, h } from '../dom.js';
import { card, lookups, options, sortedTags, withContext } from './fragments.js';
import { C } from './strings.js';
import { api, problem, saving, statusLine } from './ui.js';
import { addToWorkshopButton } from './workshops.js';

const KEYS = ['q', 'place', 'prompt_id', 'kind', 'tag', 'status', 'sensitive', 'captured_after', 'captured_before',
  'conversation_id'];
const DATES = ['captured_after', 'captured_before'];

// The address keeps dates as the date inputs show them; the server wants a moment with its offset.
const toMoment = (k, d) => new Date(`${d}T${k === 'captured_after' ? '00:00:00' : '23:59:59.999'}`).toISOString();
function toDate(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// The search as GET /fragments (and a saved search) take it.
function apiQuery(query) {
  const out = {};
  for (const k of KEYS) {
    const v = query.get(k);
    if (v) out[k] = DATES.includes(k) && /^\d{4}-\d\d-\d\d$/.test(v) ? toMoment(k, v) : v;
  }
  return out;
}

// A saved search back into the page's address.
function pageQuery(saved) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(saved)) q.set(k, DATES.includes(k) ? toDate(v) : v);
  return q;
}

export async function page(ctx) {
  const pid = ctx.project.id;
  const L = await lookups(pid);
  const q = ctx.query;
  const val = (k) => q.get(k) || '';
  const sel = (name, pairs) => h('select', { name }, options(pairs, val(name), C.s.any));
  const controls = [
    field(C.s.q, h('input', { type: 'search', name: 'q', value: val('q'), 'aria-describedby': 'search-hint' })),
    field(C.s.place, sel('place', L.places.map((p) => [p.id, p.name]))),
    field(C.s.prompt, sel('prompt_id', L.prompts.map((p) => [p.id, p.text]))),
    field(C.s.kind, sel('kind', Object.entries(C.f.kinds))),
    field(C.s.tag, sel('tag', sortedTags(L).map((t) => [t.id, t.path]))),
    field(C.s.status, sel('status', Object.entries(C.s.statuses))),
    field(C.s.sensitive, sel('sensitive', [['true', C.s.yes], ['false', C.s.no]])),
    field(C.s.after, h('input', { type: 'date', name: 'captured_after', value: val('captured_after') })),
    field(C.s.before, h('input', { type: 'date', name: 'captured_before', value: val('captured_before') })),
    field(C.s.conversation, h('input', { type: 'text', name: 'conversation_id', value: val('conversation_id') })),
  ];
  const form = h('form', {
    id: 'search-form', class: 'co-filters', role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const next = new URLSearchParams();
      for (const k of KEYS) if (form.elements[k].value) next.set(k, form.elements[k].value.trim());
      go(ctx.href('search', `?${next}`));
    },
  }, controls, h('p', { id: 'search-hint', class: 'hint' },
    ctx.project.search_language === 'simple' ? C.s.hintSimple : C.s.hint), h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, C.s.go),
    h('a', { href: ctx.href('search'), class: 'button' }, C.s.reset)));

  // ---- results, a page at a time ----
  const params = apiQuery(q);
  const summary = h('p', { id: 'search-summary', 'aria-live': 'polite' });
  const results = h('div', { id: 'search-results', class: 'frag-list' });
  const more = h('button', { type: 'button', hidden: true, onclick: () => load() }, C.s.more);
  let cursor = null;
  let shown = 0;
  let total = { total: 0, total_is_lower_bound: false };
  async function load() {
    const query = new URLSearchParams({ ...params, project_id: pid, limit: '25' });
    if (cursor) query.set('cursor', cursor);
    else query.set('total', 'true');
    try {
      const data = await api('GET', `/fragments?${query}`);
      cursor = data.next_cursor;
      shown += data.items.length;
      if (data.total != null) total = data;
      results.append(...(await withContext(pid, data.items)).map((f) => card(f, L)));
      // The count stops at 1,000 (a larger one would read every match); past it the page says "more than".
      const lowerBound = total.total_is_lower_bound && (shown <= total.total || Boolean(cursor));
      summary.textContent = shown ? C.s.results(Math.max(total.total, shown), lowerBound) : C.s.none;
      const first = data.items.length && results.querySelector(`[data-id="${data.items[0].id}"]`);
      if (first && shown > data.items.length) { first.tabIndex = -1; first.focus(); }
    } catch (err) {
      results.append(problem(err));
    }
    more.hidden = !cursor;
  }
  await load();

  // ---- saved searches ----
  const savedList = h('ul', { id: 'saved-searches', class: 'saved' });
  const savedStatus = statusLine('saved-status');
  const drawSaved = (items) => savedList.replaceChildren(...(items.length ? items.map(savedItem) : [h('li', {}, C.s.noSaved)]));
  function savedItem(s) {
    const del = h('button', {
      type: 'button', 'aria-label': C.s.del(s.name),
      onclick: async () => {
        try { await saving(del, savedStatus, () => api('DELETE', `/saved-searches/${s.id}`)); } catch { return; }
        li.remove();
        if (!savedList.children.length) drawSaved([]);
        name.focus();
      },
    }, C.s.deleteWord);
    const li = h('li', { 'data-id': s.id }, h('a', { href: ctx.href('search', `?${pageQuery(s.query)}`) }, s.name), del);
    return li;
  }
  const name = h('input', { type: 'text', name: 'name', maxlength: 120, required: true });
  const saveButton = h('button', { type: 'submit' }, C.s.save);
  const saveForm = h('form', {
    id: 'save-search', class: 'co-filters',
    onsubmit: async (e) => {
      e.preventDefault();
      let s;
      try {
        s = await saving(saveButton, savedStatus, () => api('POST', `/projects/${pid}/saved-searches`,
          { name: name.value.trim(), query: params }));
      } catch { return; }
      if (savedList.querySelector('[data-id]') === null) savedList.replaceChildren();
      savedList.append(savedItem(s));
      name.value = '';
    },
  }, field(C.s.name, name), saveButton);
  try {
    drawSaved(await api('GET', `/projects/${pid}/saved-searches`));
  } catch (err) {
    savedList.replaceChildren(h('li', {}, problem(err)));
  }

  return h('div', { id: 'search' },
    h('h1', {}, C.s.title),
    form,
    h('div', { class: 'search-cols' },
      h('section', { 'aria-labelledby': 'search-summary' }, summary,
        shown ? h('p', {}, h('a', { href: ctx.href('tagging', `?${new URLSearchParams(params)}`) }, C.s.tagThese)) : null,
        results, more, addToWorkshopButton(pid, () => [...results.querySelectorAll('[data-id]')].map((e) => e.dataset.id),
          () => total.total)),
      h('aside', { 'aria-labelledby': 'saved-h' }, h('h2', { id: 'saved-h' }, C.s.saved), savedList, saveForm, savedStatus)));
}
