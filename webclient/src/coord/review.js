// The review queue: new fragments, sensitive ones first; mark reviewed, or correct with the version check (a
// conflicting edit shows both versions side by side).

import { field, h } from '../dom.js';
import { card, lookups, options, patch } from './fragments.js';
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
  let tally = { unreviewed: 0, sensitive: 0 };
  const showCounts = () => { counts.textContent = tally.unreviewed ? C.r.counts(tally.unreviewed, tally.sensitive) : C.r.empty; };

  async function load() {
    const q = new URLSearchParams({ limit: '25' });
    if (cursor) q.set('cursor', cursor);
    try {
      const data = await api('GET', `/projects/${pid}/review-queue?${q}`);
      tally = data.counts;
      cursor = data.next_cursor;
      list.append(...data.items.map((f) => item(f, L, gone)));
    } catch (err) {
      list.append(problem(err));
    }
    more.hidden = !cursor;
    showCounts();
  }

  // A reviewed fragment leaves the queue; focus goes to the next one's first button, so the coordinator reads on.
  function gone(node, f) {
    tally.unreviewed = Math.max(0, tally.unreviewed - 1);
    if (f.sensitive) tally.sensitive = Math.max(0, tally.sensitive - 1);
    showCounts();
    const next = node.nextElementSibling || node.previousElementSibling;
    node.remove();
    const target = next && next.querySelector('button');
    (target || counts).focus();
  }

  await load();
  counts.tabIndex = -1;
  return h('div', { id: 'review' }, h('h1', {}, C.r.title), h('p', {}, C.r.intro), counts, list, more,
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
      if (err.current) conflict(err.current, { reviewed: true });
      return;
    }
    localStorage.removeItem(key);
    gone(node, f);
  }

  // An unsaved edit is kept in localStorage with the version it started from, so a reload (or a lost login)
  // brings it back, and saving it still meets the version check.
  const key = `hearken-draft:review:${f.id}`;
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
          if (err.current) conflict(err.current, mine);
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

  // Theirs (the server's record now) beside yours (their version plus this edit); either can win.
  function conflict(current, mine) {
    const keep = h('button', {
      type: 'button',
      onclick: () => {
        draw(current);
        status.textContent = '';
        closeEdit();
      },
    }, C.r.keepTheirs);
    const apply = h('button', {
      type: 'button', class: 'primary',
      onclick: async () => {
        let saved;
        try { saved = await saving(apply, status, () => patch(current, mine)); } catch (err) {
          if (err.current) conflict(err.current, mine);
          return;
        }
        if (mine.reviewed) { gone(node, saved); return; }
        draw(saved);
        closeEdit();
      },
    }, C.r.applyMine);
    const title = h('h2', { id: `conflict-${f.id}`, tabindex: '-1' }, C.r.conflictTitle);
    panel.replaceChildren(h('section', { class: 'conflict', role: 'group', 'aria-labelledby': title.id },
      title, h('p', {}, C.r.conflictHelp),
      h('div', { class: 'versions' }, side('theirs', C.r.theirs(current.version), current),
        side('yours', C.r.yours, { ...f, ...mine })),
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
