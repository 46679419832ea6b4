// Tagging at keyboard speed: one fragment at a time with a type-ahead tag box (the ARIA combobox pattern), keys
// to move between fragments, and bulk tagging of a selection from the list below. Every action updates the
// nodes it changes in place. No traps: after a tag is applied focus goes back to the fragment (so the next `t`
// is a key, not a letter in the box); Enter only ever applies an existing tag, and a new tag is made only by
// choosing "Create …" explicitly; undoing a tag this page just made also takes it out of the codebook if nothing
// else uses it.

import { field, h } from '../dom.js';
import { card, chip, lookups, options, sortedTags, tagChips } from './fragments.js';
import { C } from './strings.js';
import { api, problem, saving, statusLine, tableBox } from './ui.js';
import { addToWorkshopButton } from './workshops.js';

const FILTERS = ['q', 'place', 'prompt_id', 'kind', 'tag', 'status', 'sensitive', 'captured_after', 'captured_before',
  'conversation_id', 'consent_id'];

export async function page(ctx) {
  const pid = ctx.project.id;
  const L = await lookups(pid);
  const tags = sortedTags(L);
  const numbers = await api('GET', `/projects/${pid}/tag-counts`).catch(() => []);
  const used = new Map(numbers.map((c) => [c.tag_id, c.own]));
  // With the tags under it, as loaded (a parent's subtree total is the server's: a fragment counts once).
  const subtree = new Map(numbers.filter((c) => c.with_children !== c.own).map((c) => [c.tag_id, c.with_children]));
  const madeHere = new Set(); // tags created from this page's box: an undo may take them away again
  const items = [];
  const selected = new Set();
  let cursor = null;
  let i = 0;

  const status = statusLine('tag-status');
  const pos = h('p', { id: 'tag-pos', class: 'tag-pos' });
  const cardBox = h('div', { id: 'tag-card', tabindex: '-1' });
  const applied = h('ul', { id: 'tag-applied', class: 'chips', 'aria-label': C.t.applied });
  const input = h('input', {
    type: 'text', id: 'tag-input', role: 'combobox', autocomplete: 'off', spellcheck: 'false',
    'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': 'tag-options',
  });
  const listbox = h('ul', { id: 'tag-options', role: 'listbox', 'aria-label': C.t.matches, hidden: true });
  const applyButton = h('button', { type: 'button', onclick: () => apply(matches[hi]) }, C.t.apply);
  let matches = [];
  let hi = -1;

  const current = () => items[i];
  function added(tag) {
    L.tags.push(tag);
    L.tag.set(tag.id, tag);
    tags.splice(0, tags.length, ...sortedTags(L));
    bulkTag.append(h('option', { value: tag.id }, tag.path));
    return tag;
  }
  const has = (f, t) => f.tag_ids.includes(t.id);
  function forget(tag) {
    L.tags.splice(L.tags.indexOf(tag), 1);
    L.tag.delete(tag.id);
    tags.splice(0, tags.length, ...sortedTags(L));
    const option = bulkTag.querySelector(`option[value="${tag.id}"]`);
    if (option) option.remove();
    madeHere.delete(tag.id);
  }

  // ---- the type-ahead ----
  function suggest(open = true) {
    const f = current();
    const words = input.value.trim().toLowerCase();
    matches = f ? tags.filter((t) => !has(f, t) && t.path.toLowerCase().includes(words)) : [];
    matches.sort((a, b) => Number(!a.name.toLowerCase().startsWith(words)) - Number(!b.name.toLowerCase().startsWith(words)));
    matches = matches.slice(0, 8);
    // A name the codebook lacks can be added from here, so tagging need not stop for the codebook page.
    const typed = input.value.trim();
    // It is never highlighted on its own: only an explicit ↓/↑ or a click chooses it.
    const existing = matches.length;
    if (f && typed && !tags.some((t) => t.name.toLowerCase() === words)) matches.push({ create: typed });
    hi = words && existing ? 0 : (words ? -1 : Math.min(hi, existing - 1));
    const show = open && document.activeElement === input && (matches.length > 0 || words !== '');
    listbox.hidden = !show;
    input.setAttribute('aria-expanded', String(show));
    drawOptions();
  }

  function drawOptions() {
    listbox.replaceChildren(...(matches.length ? matches.map((t, k) => h('li', {
      role: 'option', id: `tag-opt-${k}`, 'aria-selected': String(k === hi), class: k === hi ? 'hi' : '',
      onmousedown: (e) => { e.preventDefault(); apply(t); },
    }, t.create ? h('span', { class: 'create-option' }, C.t.createExplicit(t.create))
      : [chip(t), h('span', { class: 'tag-uses' }, C.t.uses(used.get(t.id) || 0, subtree.get(t.id)))])) : [h('li', { class: 'no-match' }, C.t.noMatch)]));
    if (hi >= 0 && matches[hi]) input.setAttribute('aria-activedescendant', `tag-opt-${hi}`);
    else input.removeAttribute('aria-activedescendant');
  }

  function close() {
    listbox.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  }

  // ---- tagging ----
  async function apply(tag) {
    const f = current();
    if (!tag && input.value.trim() && f) { status.textContent = C.t.chooseCreate(input.value.trim()); return false; }
    if (!tag || !f || (!tag.create && has(f, tag))) return false;
    try {
      await saving(applyButton, status, async () => {
        if (tag.create) {
          tag = added(await api('POST', `/projects/${pid}/tags`, { name: tag.create }));
          madeHere.add(tag.id);
        }
        return api('PUT', `/fragments/${f.id}/tags/${tag.id}`);
      });
    } catch {
      return false; // the typed name stays in the box to try again
    }
    f.tag_ids.push(tag.id);
    used.set(tag.id, (used.get(tag.id) || 0) + 1);
    status.textContent = C.t.tagged(tag.name);
    input.value = '';
    hi = -1;
    changed(f);
    close();
    cardBox.focus(); // back on the fragment: the next key is a shortcut again
    return true;
  }

  async function untag(f, tag) {
    const button = applied.querySelector(`[data-tag="${tag.id}"]`) || applyButton;
    try {
      await saving(button, status, () => api('DELETE', `/fragments/${f.id}/tags/${tag.id}`));
    } catch {
      return;
    }
    f.tag_ids = f.tag_ids.filter((id) => id !== tag.id);
    used.set(tag.id, Math.max(0, (used.get(tag.id) || 0) - 1));
    status.textContent = C.t.untagged(tag.name);
    const refocus = document.activeElement === button;
    changed(f);
    if (refocus) cardBox.focus();
    // A tag made here a moment ago and now on no fragment was most likely a slip: it leaves the codebook too.
    // The server keeps it if anything uses it after all (another coordinator, a child tag).
    if (madeHere.has(tag.id) && !items.some((x) => has(x, tag))) {
      try {
        await api('DELETE', `/tags/${tag.id}?if_unused=true`);
        forget(tag);
        status.textContent = C.t.untaggedAndDeleted(tag.name);
      } catch { madeHere.delete(tag.id); }
    }
  }

  const removeLast = () => {
    const f = current();
    const last = f && L.tag.get(f.tag_ids[f.tag_ids.length - 1]);
    if (last) untag(f, last);
  };

  // ---- moving ----
  async function move(d) {
    if (!items.length) return;
    if (i + d >= items.length && cursor) await loadMore();
    i = Math.max(0, Math.min(items.length - 1, i + d));
    input.value = '';
    hi = -1;
    showCurrent();
    suggest(false);
  }

  function showCurrent() {
    const f = current();
    pos.textContent = f ? C.t.position(i + 1, items.length, Boolean(cursor)) : C.t.none;
    cardBox.replaceChildren(f ? card(f, L, { tags: false }) : '');
    drawApplied(f);
    drawMemos(f);
    for (const row of list.querySelectorAll('tr[aria-current]')) row.removeAttribute('aria-current');
    const row = f && rows.get(f.id);
    if (row) {
      row.tr.setAttribute('aria-current', 'true');
      row.tr.scrollIntoView({ block: 'nearest' });
    }
  }

  function drawApplied(f) {
    const on = f ? f.tag_ids.map((id) => L.tag.get(id)).filter(Boolean) : [];
    applied.replaceChildren(...(on.length ? on.map((t) => h('li', {}, chip(t, h('button', {
      type: 'button', class: 'chip-x', 'data-tag': t.id, 'aria-label': C.t.removeTag(t.name),
      onclick: () => untag(f, t),
    }, '×')))) : [h('li', { class: 'hint' }, C.t.noTags)]));
  }

  // The memos linked to this fragment, beside it, and a way to write one.
  const memoBox = h('section', { id: 'tag-memos', class: 'memos-beside', 'aria-label': C.t.memos });
  async function drawMemos(f) {
    if (!f) { memoBox.replaceChildren(); return; }
    const write = h('a', { href: ctx.href('memos', `?fragment=${f.id}`), class: 'button' }, C.t.writeMemo);
    let list = [];
    try { list = await api('GET', `/projects/${pid}/memos?fragment_id=${f.id}&limit=20`); } catch { /* the fragment still works without */ }
    if (f !== current()) return;
    memoBox.replaceChildren(h('h2', {}, C.t.memos),
      list.length ? h('ul', { class: 'memo-list' }, list.map((m) => h('li', { class: 'memo' }, h('p', {}, m.text))))
        : h('p', { class: 'hint' }, C.t.noMemos), write);
  }

  // A fragment's tags changed: its chips here and its row below.
  function changed(f) {
    if (f === current()) drawApplied(f);
    const row = rows.get(f.id);
    if (row) row.tags.replaceChildren(tagChips(f, L));
  }

  // ---- the list and bulk tagging ----
  const rows = new Map();
  const tbody = h('tbody');
  const count = h('span', { id: 'bulk-count', 'aria-live': 'polite' }, C.t.selectedCount(0));
  const all = h('input', { type: 'checkbox', id: 'select-all', 'aria-label': C.t.selectAll, onchange: () => {
    for (const f of items) select(f, all.checked);
  } });
  const list = tableBox(C.t.list, h('table', { id: 'tag-list' },
    h('caption', {}, C.t.list),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, all), h('th', { scope: 'col' }, C.t.text),
      h('th', { scope: 'col' }, C.f.tags))), tbody));
  const more = h('button', { type: 'button', hidden: true, onclick: () => loadMore() }, C.t.loadMore);
  const bulkTag = h('select', { id: 'bulk-tag' }, options(tags.map((t) => [t.id, t.path]), ''));
  const bulkButton = h('button', { type: 'button', class: 'primary', onclick: bulk }, C.t.bulkApply);
  const bulkStatus = statusLine('bulk-status');

  function select(f, on) {
    if (on) selected.add(f.id); else selected.delete(f.id);
    const row = rows.get(f.id);
    if (row) row.box.checked = on;
    count.textContent = C.t.selectedCount(selected.size);
  }

  function addRows(fresh) {
    for (const f of fresh) {
      const n = items.indexOf(f);
      const box = h('input', { type: 'checkbox', 'aria-label': C.t.selectOne(n + 1), onchange: () => select(f, box.checked) });
      const tagsCell = h('td', {}, tagChips(f, L));
      const open = h('button', {
        type: 'button', class: 'linkish',
        onclick: () => { i = items.indexOf(f); showCurrent(); input.focus(); },
      }, (f.text || '').slice(0, 140));
      const tr = h('tr', { 'data-id': f.id }, h('td', {}, box), h('td', {}, open), tagsCell);
      rows.set(f.id, { tr, box, tags: tagsCell });
      tbody.append(tr);
    }
  }

  async function bulk() {
    const tag = L.tag.get(bulkTag.value);
    if (!tag || !selected.size) return;
    const ids = [...selected];
    let result;
    try {
      result = await saving(bulkButton, bulkStatus, () => api('POST', `/tags/${tag.id}/fragments`, { add: ids }));
    } catch {
      return;
    }
    for (const f of items) {
      if (selected.has(f.id) && !has(f, tag)) {
        f.tag_ids.push(tag.id);
        changed(f);
      }
    }
    bulkStatus.textContent = C.t.bulkDone(result.added, tag.name);
  }

  async function loadMore() {
    const q = new URLSearchParams({ project_id: pid, limit: '100' });
    for (const k of FILTERS) if (ctx.query.get(k)) q.set(k, ctx.query.get(k));
    if (!q.has('status')) q.set('status', 'active');
    if (cursor) q.set('cursor', cursor);
    try {
      const data = await api('GET', `/fragments?${q}`);
      cursor = data.next_cursor;
      items.push(...data.items);
      addRows(data.items);
    } catch (err) {
      status.replaceChildren(problem(err));
    }
    more.hidden = !cursor;
    pos.textContent = C.t.position(i + 1, items.length, Boolean(cursor));
  }

  // ---- keys ----
  const typing = (el) => el && (el.isContentEditable || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT'
    || (el.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'submit'].includes(el.type)));

  function onKey(e) {
    if (!root.isConnected) { document.removeEventListener('keydown', onKey); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target === input) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        if (listbox.hidden) suggest();
        if (matches.length) hi = (hi + (e.key === 'ArrowDown' ? 1 : -1) + matches.length) % matches.length;
        drawOptions();
      } else if (e.key === 'Enter') {
        const next = e.shiftKey;
        apply(matches[hi]).then((ok) => { if (ok && next) move(1); });
      } else if (e.key === 'Escape') {
        if (!listbox.hidden) close(); else cardBox.focus();
      } else if (e.key === 'Backspace' && !input.value) {
        removeLast();
      } else if (e.key === 'PageDown' || e.key === 'PageUp') {
        move(e.key === 'PageDown' ? 1 : -1);
      } else return;
      e.preventDefault();
      return;
    }
    if (typing(e.target) || !root.contains(e.target) && e.target !== document.body) return;
    const k = e.key;
    if (k === 'j' || k === 'ArrowDown') move(1);
    else if (k === 'k' || k === 'ArrowUp') move(-1);
    else if (k === 'x' && current()) select(current(), !selected.has(current().id));
    else if (k === 'u' || (k === 'Backspace' && e.target.tagName !== 'BUTTON')) removeLast();
    else if (k === 't' || k === '/') { input.focus(); suggest(); } else return;
    e.preventDefault();
  }
  input.addEventListener('input', () => suggest());
  input.addEventListener('focus', () => suggest());
  // Later, and only if focus did not come straight back (a fast typist leaves and returns within the delay).
  input.addEventListener('blur', () => setTimeout(() => { if (document.activeElement !== input) close(); }, 100));

  await loadMore();
  showCurrent();

  const keys = h('details', { class: 'shortcuts', open: true }, h('summary', {}, C.t.shortcuts),
    h('dl', {}, C.t.keys.map(([key, what]) => [h('dt', {}, h('kbd', {}, key)), h('dd', {}, what)])));
  const root = h('div', { id: 'tagging' },
    h('h1', {}, C.t.title),
    h('div', { class: 'tag-main' },
      h('section', { class: 'tag-work', 'aria-labelledby': 'tag-pos' },
        h('div', { class: 'tag-nav' }, pos,
          h('button', { type: 'button', onclick: () => move(-1) }, C.t.prev),
          h('button', { type: 'button', onclick: () => move(1) }, C.t.next)),
        cardBox, applied,
        h('div', { class: 'combo' }, field(C.t.tagInput, input), applyButton, listbox),
        status, memoBox),
      keys),
    h('section', { class: 'tag-bulk' },
      h('div', { class: 'co-filters' }, field(C.t.bulkTag, bulkTag), bulkButton,
        h('button', { type: 'button', onclick: () => { for (const f of items) select(f, false); all.checked = false; } }, C.t.clear),
        count, addToWorkshopButton(pid, () => [...selected])),
      bulkStatus, list, more));
  document.addEventListener('keydown', onKey);
  return root;
}
