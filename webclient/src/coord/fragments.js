// A fragment as a card (review, tagging and search share it), its clip played from the server, and an edit
// sent with the version check.

import { h, objectURL } from '../dom.js';
import { C } from './strings.js';
import { api, authFetch, fmtDate, problem } from './ui.js';

// The project's places, prompts and codebook, by id: a card names them instead of showing ids.
export async function lookups(pid) {
  const [places, prompts, tags] = await Promise.all(['places', 'prompts', 'tags']
    .map((k) => api('GET', `/projects/${pid}/${k}`)));
  const byId = (xs) => new Map(xs.map((x) => [x.id, x]));
  return { places, prompts, tags, place: byId(places), prompt: byId(prompts), tag: byId(tags) };
}

// "parent › child" (a name alone can repeat under different parents).
export function tagPath(L, tag) {
  const names = [];
  for (let t = tag, n = 0; t && n < 12; t = L.tag.get(t.parent_id), n++) names.unshift(t.name);
  return names.join(' › ');
}

// Tags sorted as the codebook's tree reads, each with its full path.
export const sortedTags = (L) => L.tags.map((t) => ({ t, p: tagPath(L, t) }))
  .sort((a, b) => a.p.localeCompare(b.p)).map(({ t, p }) => Object.assign(t, { path: p }));

export const chip = (tag, ...kids) => h('span', { class: 'chip', style: `--c:${tag.colour || '#666666'}` },
  h('span', { class: 'chip-name' }, tag.path || tag.name), kids);

export const tagChips = (f, L) => h('span', { class: 'chips' },
  (f.tag_ids || []).map((id) => L.tag.get(id)).filter(Boolean).map((t) => chip(t)));

export const sensitiveMark = () => h('span', { class: 'safeguarding badge' }, C.f.sensitive);

// Who captured each fragment, the participant's label and the consent's scopes, fetched for a page of cards
// at once and kept on each fragment as `context` (card() shows it when present).
export async function withContext(pid, items) {
  if (!items.length) return items;
  const q = new URLSearchParams();
  for (const f of items) q.append('ids', f.id);
  try {
    const rows = await api('GET', `/projects/${pid}/fragment-context?${q}`);
    const by = new Map(rows.map((r) => [r.fragment_id, r]));
    for (const f of items) f.context = by.get(f.id) || null;
  } catch { /* the cards still show the words without it */ }
  return items;
}

function contextLine(c) {
  return h('p', { class: 'frag-context' },
    h('span', { class: 'frag-researcher' }, C.f.by(c.researcher)), ' · ',
    h('span', { class: 'frag-label' }, C.f.participant(c.participant_label)), ' · ',
    h('span', { class: 'frag-scopes' }, c.scopes.length ? C.f.scopes(c.scopes) : C.f.noScopes));
}

export function card(f, L, { actions = null, tags = true } = {}) {
  const place = L.place.get(f.place_id);
  const prompt = L.prompt.get(f.prompt_id);
  return h('article', { class: `frag${f.sensitive ? ' is-sensitive' : ''}`, 'data-id': f.id },
    h('p', { class: 'frag-meta' }, f.sensitive ? sensitiveMark() : null,
      h('span', {}, [C.f.kinds[f.kind] || '', fmtDate(f.captured_at), place ? place.name : C.f.noPlace]
        .filter(Boolean).join(' · ')),
      f.audio ? h('span', { class: 'badge audio-mark', title: C.f.hasAudio }, C.f.audioMark) : null,
      f.reviewed_at ? h('span', { class: 'badge' }, C.f.reviewed) : null),
    f.context ? contextLine(f.context) : null,
    prompt ? h('p', { class: 'frag-prompt' }, prompt.text) : null,
    h('p', { class: 'frag-text' }, f.text === null ? C.f.erased : f.text),
    f.audio ? player(f) : null,
    tags ? tagChips(f, L) : null,
    actions);
}

// The clip endpoint needs the bearer token, which an <audio src> cannot send: fetch it once, play a blob: URL.
export function player(f) {
  const box = h('div', { class: 'clip' });
  const button = h('button', {
    type: 'button',
    onclick: async () => {
      button.disabled = true;
      button.textContent = C.f.loadingClip;
      try {
        const blob = await (await authFetch(`/fragments/${f.id}/audio`)).blob();
        const audio = h('audio', { controls: true, src: objectURL(blob), 'aria-label': C.f.clip });
        box.replaceChildren(audio);
        audio.focus();
        audio.play().catch(() => {});
      } catch (err) {
        button.disabled = false;
        button.textContent = C.f.listen;
        box.append(problem(err));
      }
    },
  }, C.f.listen);
  box.append(button);
  return box;
}

// PATCH with If-Match; a 409 error carries `current`, the record as the server now holds it.
export async function patch(f, changes) {
  try {
    const res = await authFetch(`/fragments/${f.id}`, {
      method: 'PATCH', body: JSON.stringify(changes),
      headers: { 'Content-Type': 'application/json', 'If-Match': `"${f.version}"` },
    });
    return await res.json();
  } catch (err) {
    if (err.status === 409 && err.body && err.body.current) err.current = err.body.current;
    throw err;
  }
}

// <option>s for a select: [value, text] pairs after an optional "any" choice.
export const options = (pairs, selected, any) => [any ? h('option', { value: '' }, any) : null,
  ...pairs.map(([v, t]) => h('option', { value: v, selected: v === selected }, t))];
