// The review queue: new fragments, sensitive ones first, oldest or newest first, narrowed by researcher, place,
// date and flag; each card says who captured it, the participant's label, the consent's scopes and whether it
// has audio. Mark reviewed, or correct with the version check: a conflicting edit shows what you started from,
// their version and yours, and where both of you changed a field you choose (nothing of theirs is dropped unseen).

import { draftKey } from '../app.js';
import { field, h } from '../dom.js';
import { card, lookups, options, patch, withContext } from './fragments.js';
import { C } from './strings.js';
import { api, problem, saving, statusLine } from './ui.js';
import { addToWorkshopButton } from './workshops.js';

export async function page(ctx) {
  const pid = ctx.project.id;
  const L = await lookups(pid);
  const counts = h('p', { id: 'review-counts', 'aria-live': 'polite' });
  const list = h('div', { id: 'review-list', class: 'frag-list' });
  const more = h('button', { type: 'button', hidden: true, onclick: () => load() }, C.r.more);
  let cursor = null;
  let tally = { unreviewed: 0, sensitive: 0, more: false };
  let shown = 0;
  const showCounts = () => {
    counts.textContent = tally.unreviewed ? C.r.counts(tally.unreviewed, tally.sensitive, tally.more) : C.r.empty;
    matching.textContent = filtered() ? C.r.matching(shown, Boolean(cursor)) : '';
  };

  // ---- order and filters ----
  let members = [];
  try { members = await api('GET', `/projects/${pid}/members`); } catch { /* the filter lists no one */ }
  const order = h('select', { id: 'review-order', name: 'order' }, options([['oldest', C.r.oldest], ['newest', C.r.newest]], ctx.query.get('order') || 'oldest'));
  const researcher = h('select', { id: 'review-researcher', name: 'researcher' }, options(members
    .filter((m) => m.role === 'researcher').map((m) => [m.user_id, m.display_name || m.email || m.user_id]), ctx.query.get('researcher') || '', C.r.anyone));
  const place = h('select', { id: 'review-place', name: 'place' }, options(L.places.map((p) => [p.id, p.name]), ctx.query.get('place') || '', C.r.anywhere));
  const flag = h('select', { id: 'review-flag', name: 'sensitive' }, options([['true', C.r.flagged], ['false', C.r.notFlagged]], ctx.query.get('sensitive') || '', C.r.anyFlag));
  const after = h('input', { type: 'date', id: 'review-after', name: 'after', value: ctx.query.get('after') || '' });
  const before = h('input', { type: 'date', id: 'review-before', name: 'before', value: ctx.query.get('before') || '' });
  const matching = h('p', { id: 'review-matching', 'aria-live': 'polite' });
  const filtered = () => Boolean(researcher.value || place.value || flag.value || after.value || before.value);
  // Dates are the coordinator's days: from the start of `after` to the end of `before`, in local time.
  const dayStart = (d, plus = 0) => { const x = new Date(`${d}T00:00:00`); x.setDate(x.getDate() + plus); return x.toISOString(); };
  const filters = h('form', {
    id: 'review-filters', class: 'co-filters',
    onchange: () => restart(),
    onsubmit: (e) => { e.preventDefault(); restart(); },
  }, field(C.r.order, order), field(C.r.researcher, researcher), field(C.r.place, place), field(C.r.flag, flag),
  field(C.r.after, after), field(C.r.before, before));

  function query() {
    const q = new URLSearchParams({ limit: '25', order: order.value });
    if (researcher.value) q.set('researcher', researcher.value);
    if (place.value) q.set('place', place.value);
    if (flag.value) q.set('sensitive', flag.value);
    if (after.value) q.set('captured_after', dayStart(after.value));
    if (before.value) q.set('captured_before', dayStart(before.value, 1));
    return q;
  }

  async function restart() {
    gen += 1;
    cursor = null;
    shown = 0;
    list.replaceChildren();
    // Kept in the address, so a reload or a shared link opens the same view.
    const keep = new URLSearchParams();
    for (const [k, el] of [['order', order], ['researcher', researcher], ['place', place], ['sensitive', flag], ['after', after], ['before', before]]) {
      if (el.value && !(k === 'order' && el.value === 'oldest')) keep.set(k, el.value);
    }
    history.replaceState(null, '', ctx.href('review', keep.toString() ? `?${keep}` : ''));
    await load();
  }

  // A filter changed while a page was on its way: that page belongs to the old filters and is dropped.
  let gen = 0;
  async function load() {
    const mine = gen;
    const q = query();
    if (cursor) q.set('cursor', cursor);
    try {
      const data = await api('GET', `/projects/${pid}/review-queue?${q}`);
      await withContext(pid, data.items);
      if (mine !== gen) return;
      if (data.counts) tally = data.counts;
      cursor = data.next_cursor;
      shown += data.items.length;
      list.append(...data.items.map((f) => item(f, L, gone)));
    } catch (err) {
      if (mine !== gen) return;
      list.append(problem(err));
    }
    more.hidden = !cursor;
    showCounts();
  }

  // A reviewed fragment leaves the queue; focus goes to the next one's first button, so the coordinator reads on.
  function gone(node, f) {
    if (!tally.more) tally.unreviewed = Math.max(0, tally.unreviewed - 1);
    if (f.sensitive) tally.sensitive = Math.max(0, tally.sensitive - 1);
    shown = Math.max(0, shown - 1);
    showCounts();
    const next = node.nextElementSibling || node.previousElementSibling;
    node.remove();
    const target = next && next.querySelector('button');
    (target || counts).focus();
  }

  await load();
  counts.tabIndex = -1;
  return h('div', { id: 'review' }, h('h1', {}, C.r.title), h('p', {}, C.r.intro), filters, counts, matching, list, more,
    addToWorkshopButton(pid, () => [...list.querySelectorAll('.review-item[data-id]')].map((e) => e.dataset.id)));
}

function item(f, L, gone) {
  const node = h('div', { class: 'review-item', 'data-id': f.id });
  const status = statusLine();
  const review = h('button', { type: 'button', class: 'primary', 'data-action': 'review', onclick: markReviewed }, C.r.markReviewed);
  const editButton = h('button', { type: 'button', 'data-action': 'edit', onclick: () => openEdit() }, C.r.edit);
  const panel = h('div', { class: 'review-panel' });

  function draw(record) {
    f = record;
    node.replaceChildren(card(f, L, { actions: h('div', { class: 'actions' }, review, editButton) }), panel, status);
  }

  async function markReviewed() {
    try {
      await saving(review, status, () => patch(f, { reviewed: true }));
    } catch (err) {
      if (err.current) conflict(err.current, { reviewed: true }, f);
      return;
    }
    localStorage.removeItem(key);
    gone(node, f);
  }

  // An unsaved edit is kept in localStorage with the version it started from, so a reload (or a lost login)
  // brings it back, and saving it still meets the version check.
  const key = draftKey(`review:${f.id}`);
  function openEdit(restore = null, focus = true) {
    const base = restore ? restore.base : { version: f.version, text: f.text, kind: f.kind, sensitive: f.sensitive };
    const values = restore ? restore.values : base;
    const text = h('textarea', { name: 'text', rows: 4 });
    text.value = values.text ?? '';
    const kind = h('select', { name: 'kind' }, options(Object.entries(C.f.kinds), values.kind));
    const sensitive = h('input', { type: 'checkbox', name: 'sensitive', id: `sens-${f.id}`, checked: values.sensitive });
    const save = h('button', { type: 'submit', class: 'primary' }, C.r.save);
    const changes = () => {
      const c = {};
      if (text.value !== base.text) c.text = text.value;
      if (kind.value !== base.kind) c.kind = kind.value;
      if (sensitive.checked !== base.sensitive) c.sensitive = sensitive.checked;
      return c;
    };
    const keep = () => localStorage.setItem(key, JSON.stringify({
      base, values: { text: text.value, kind: kind.value, sensitive: sensitive.checked } }));
    const form = h('form', {
      class: 'review-edit', oninput: keep, onchange: keep,
      onsubmit: async (e) => {
        e.preventDefault();
        const mine = changes();
        if (!Object.keys(mine).length) { closeEdit(); return; }
        try {
          draw(await saving(save, status, () => patch({ id: f.id, version: base.version }, mine)));
        } catch (err) {
          if (err.current) conflict(err.current, mine, base);
          // Withdrawn meanwhile: the edit holds words that must not stay (the status line says why).
          if (err.code === 'fragment_erased') { localStorage.removeItem(key); panel.replaceChildren(); }
          return;
        }
        closeEdit();
      },
    }, field(C.r.text, text), field(C.r.kind, kind),
    h('div', { class: 'check' }, sensitive, h('label', { for: sensitive.id }, C.r.sensitive)),
    h('div', { class: 'actions' }, save, h('button', { type: 'button', onclick: closeEdit }, C.r.cancel)));
    panel.replaceChildren(form);
    editButton.hidden = true;
    if (focus) text.focus();
  }

  function closeEdit() {
    localStorage.removeItem(key);
    panel.replaceChildren();
    editButton.hidden = false;
    editButton.focus();
  }

  // What you started from, theirs (the server's record now) and yours. A field only you changed takes your
  // value; a field only they changed keeps theirs; a field you both changed is shown side by side and you choose
  // (for the text, a box that starts from theirs and yours together, to edit into one). Saving sends only what you
  // chose, on top of their version, so nothing of theirs is dropped without being on the screen.
  function conflict(current, mine, base) {
    const both = Object.keys(mine).filter((k) => k !== 'reviewed' && base[k] !== undefined
      && current[k] !== base[k] && current[k] !== mine[k]);
    const choices = {};
    const pickers = both.map((k) => {
      if (k === 'text') {
        const merged = h('textarea', { name: 'merged-text', class: 'merged-text', rows: 5 });
        merged.value = `${current.text ?? ''}\n\n${mine.text}`;
        choices.text = () => merged.value;
        return h('div', { class: 'merge-field', 'data-field': 'text' }, field(C.r.mergedText, merged, C.r.mergedHelp));
      }
      const name = `pick-${k}-${f.id}`;
      const radios = [['theirs', current[k]], ['mine', mine[k]]].map(([who, v], n) => h('label', {},
        h('input', { type: 'radio', name, value: who, checked: n === 0 }), ' ',
        `${who === 'theirs' ? C.r.useTheirs : C.r.useMine}: ${k === 'kind' ? C.f.kinds[v] || '' : (v ? C.r.yes : C.r.no)}`));
      choices[k] = () => (pickers.find((p) => p.dataset.field === k).querySelector(`input[name="${name}"]:checked`).value === 'mine' ? mine[k] : current[k]);
      return h('fieldset', { class: 'merge-field', 'data-field': k }, h('legend', {}, C.r.bothChanged(C.r[k] || k)), radios);
    });
    const merged = () => {
      const out = {};
      for (const [k, v] of Object.entries(mine)) if (!both.includes(k)) out[k] = v;
      for (const k of both) if (choices[k]() !== current[k]) out[k] = choices[k]();
      return out;
    };
    const keep = h('button', {
      type: 'button',
      onclick: () => {
        draw(current);
        status.textContent = '';
        closeEdit();
      },
    }, C.r.keepTheirs);
    const apply = h('button', {
      type: 'button', class: 'primary', 'data-action': 'apply-merge',
      onclick: async () => {
        const send = merged();
        let saved;
        try { saved = await saving(apply, status, () => (Object.keys(send).length ? patch(current, send) : Promise.resolve(current))); } catch (err) {
          if (err.current) conflict(err.current, send, current);
          return;
        }
        if (send.reviewed) { gone(node, saved); return; }
        draw(saved);
        closeEdit();
      },
    }, both.length ? C.r.saveMerged : C.r.applyMine);
    const title = h('h2', { id: `conflict-${f.id}`, tabindex: '-1' }, C.r.conflictTitle);
    panel.replaceChildren(h('section', { class: 'conflict', role: 'group', 'aria-labelledby': title.id },
      title, h('p', {}, both.length ? C.r.conflictBoth : C.r.conflictHelp),
      h('div', { class: 'versions' }, side('base', C.r.base(base.version), base), side('theirs', C.r.theirs(current.version), current),
        side('yours', C.r.yours, { ...base, ...mine })),
      pickers,
      h('div', { class: 'actions' }, keep, apply)));
    editButton.hidden = true;
    title.focus();
  }

  draw(f);
  const kept = JSON.parse(localStorage.getItem(key) || 'null');
  if (kept) openEdit(kept, false);
  return node;
}

function side(cls, heading, rec) {
  const yn = (b) => (b ? C.r.yes : C.r.no);
  return h('div', { class: `version ${cls}` }, h('h3', {}, heading), h('dl', {},
    h('dt', {}, C.r.text), h('dd', { class: 'v-text' }, rec.text ?? C.f.erased),
    h('dt', {}, C.r.kind), h('dd', {}, C.f.kinds[rec.kind] || ''),
    h('dt', {}, C.r.sensitive), h('dd', {}, yn(rec.sensitive)),
    h('dt', {}, C.r.reviewedField), h('dd', {}, yn(rec.reviewed || rec.reviewed_at))));
}
