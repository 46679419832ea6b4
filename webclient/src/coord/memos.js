// Memos: the coordinators' notes on what is emerging, each linked to the fragments and tags behind it; found by
// their words, a tag or a fragment. A memo opened from a fragment (#/co/<p>/memos?fragment=<id>) starts linked
// to it. When a fragment is erased, its words in a memo become "[withdrawn]" on the server.

import { field, h } from '../dom.js';
import { chip, lookups, options, sortedTags } from './fragments.js';
import { C } from './strings.js';
import { api, fmtDate, problem, saving, statusLine } from './ui.js';

export async function page(ctx) {
  const pid = ctx.project.id;
  const L = await lookups(pid);
  const tags = sortedTags(L);
  const excerpts = new Map(); // fragment id -> a short excerpt, fetched once

  async function excerpt(id) {
    if (!excerpts.has(id)) {
      excerpts.set(id, api('GET', `/fragments/${id}`).then((f) => (f.text || C.m.erased).slice(0, 120), () => C.m.unknown));
    }
    return excerpts.get(id);
  }

  // ---- writing ----
  const linkedFragments = (ctx.query.get('fragment') || '').split(',').filter(Boolean);
  const text = h('textarea', { id: 'memo-text', name: 'text', rows: 5, required: true, maxlength: 20000 });
  const tagPick = h('select', { id: 'memo-tags', name: 'tags', multiple: true, size: Math.min(6, Math.max(2, tags.length)) },
    options(tags.map((t) => [t.id, t.path]), ''));
  const fragList = h('ul', { id: 'memo-fragments', class: 'memo-links' });
  const drawLinked = async () => fragList.replaceChildren(...await Promise.all(linkedFragments.map(async (id) =>
    h('li', {}, h('q', {}, await excerpt(id)), ' ', h('button', {
      type: 'button', class: 'linkish', 'aria-label': C.m.unlink,
      onclick: () => { linkedFragments.splice(linkedFragments.indexOf(id), 1); drawLinked(); },
    }, '×')))));
  const save = h('button', { type: 'submit', class: 'primary', id: 'memo-save' }, C.m.save);
  const saveStatus = statusLine('memo-status');
  const form = h('form', {
    id: 'memo-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { text: text.value, fragment_ids: linkedFragments, tag_ids: [...tagPick.selectedOptions].map((o) => o.value) };
      try { await saving(save, saveStatus, () => api('POST', `/projects/${pid}/memos`, body)); } catch { return; }
      text.value = '';
      for (const o of tagPick.options) o.selected = false;
      linkedFragments.splice(0);
      fragList.replaceChildren();
      await load();
      text.focus();
    },
  }, field(C.m.text, text), field(C.m.tags, tagPick, C.m.tagsHint),
  h('div', { class: 'field' }, h('p', {}, C.m.fragments), fragList, h('p', { class: 'hint' }, C.m.fragmentsHint)),
  h('div', { class: 'actions' }, save), saveStatus);

  // ---- finding ----
  const q = h('input', { type: 'search', id: 'memo-q', name: 'q', value: ctx.query.get('q') || '' });
  const byTag = h('select', { id: 'memo-tag', name: 'tag' }, options(tags.map((t) => [t.id, t.path]), ctx.query.get('tag') || '', C.m.anyTag));
  const list = h('div', { id: 'memo-list', 'aria-live': 'polite' });
  const finder = h('form', {
    class: 'co-filters', role: 'search',
    onsubmit: (e) => { e.preventDefault(); load(); },
    onchange: () => load(),
  }, field(C.m.find, q), field(C.m.byTag, byTag), h('button', { type: 'submit' }, C.m.go));

  let gen = 0; // a newer search supersedes an answer still on its way
  async function load() {
    const mine = ++gen;
    const query = new URLSearchParams({ limit: '100' });
    if (q.value.trim()) query.set('q', q.value.trim());
    if (byTag.value) query.set('tag_id', byTag.value);
    let memos;
    try { memos = await api('GET', `/projects/${pid}/memos?${query}`); } catch (err) {
      if (mine === gen) list.replaceChildren(problem(err));
      return;
    }
    const cards = memos.length ? await Promise.all(memos.map(memoCard)) : [h('p', {}, C.m.none)];
    if (mine === gen) list.replaceChildren(...cards);
  }

  async function memoCard(m) {
    const body = h('p', { class: 'memo-text' }, m.text);
    const panel = h('div');
    const st = statusLine();
    const node = h('article', { class: 'memo', 'data-id': m.id },
      h('p', { class: 'frag-meta' }, C.m.byline(m.author, fmtDate(m.updated_at))),
      body,
      m.tag_ids.length ? h('span', { class: 'chips' }, m.tag_ids.map((id) => L.tag.get(id)).filter(Boolean).map((t) => chip(t))) : null,
      m.fragment_ids.length ? h('ul', { class: 'memo-links' }, await Promise.all(m.fragment_ids.slice(0, 10)
        .map(async (id) => h('li', {}, h('q', {}, await excerpt(id)))))) : null,
      h('div', { class: 'actions' },
        h('button', { type: 'button', 'data-action': 'edit', onclick: () => edit() }, C.m.edit),
        h('button', {
          type: 'button', class: 'danger', 'data-action': 'delete',
          onclick: async (e) => {
            try { await saving(e.target, st, () => api('DELETE', `/memos/${m.id}`)); } catch { return; }
            node.remove();
          },
        }, C.m.del)),
      panel, st);
    function edit() {
      const area = h('textarea', { rows: 5, name: 'text' });
      area.value = m.text;
      const ok = h('button', { type: 'submit', class: 'primary' }, C.m.save);
      panel.replaceChildren(h('form', {
        onsubmit: async (e) => {
          e.preventDefault();
          try { m = await saving(ok, st, () => api('PATCH', `/memos/${m.id}`, { text: area.value })); } catch { return; }
          body.textContent = m.text;
          panel.replaceChildren();
        },
      }, field(C.m.text, area), h('div', { class: 'actions' }, ok)));
      area.focus();
    }
    return node;
  }

  await Promise.all([load(), drawLinked()]);
  return h('div', { id: 'memos' }, h('h1', {}, C.m.title), h('p', {}, C.m.intro),
    h('section', { 'aria-labelledby': 'memo-new-h' }, h('h2', { id: 'memo-new-h' }, C.m.write), form),
    h('section', { 'aria-labelledby': 'memo-list-h' }, h('h2', { id: 'memo-list-h' }, C.m.listTitle), finder, list));
}
