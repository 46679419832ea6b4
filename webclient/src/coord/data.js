// Data: the project's fragments as CSV, JSON Lines or a REFI-QDA project (.qdpx, with the codebook and the
// memos), narrowed by the same filters as Search. The server streams each file and audits the export; only
// active fragments leave, and a partner or public selection only what consent allows.

import { field, h } from '../dom.js';
import { lookups, options, sortedTags } from './fragments.js';
import { C } from './strings.js';
import { download, saving, statusLine } from './ui.js';

const FORMATS = [['csv', 'fragments.csv'], ['jsonl', 'fragments.jsonl'], ['qdpx', 'project.qdpx']];

export async function page(ctx) {
  const pid = ctx.project.id;
  const L = await lookups(pid);
  const qv = (k) => ctx.query.get(k) || '';
  const q = h('input', { type: 'search', name: 'q', id: 'data-q', value: qv('q') });
  const place = h('select', { name: 'place', id: 'data-place' }, options(L.places.map((p) => [p.id, p.name]), qv('place'), C.s.any));
  const prompt = h('select', { name: 'prompt_id', id: 'data-prompt' }, options(L.prompts.map((p) => [p.id, p.text]), qv('prompt_id'), C.s.any));
  const kind = h('select', { name: 'kind', id: 'data-kind' }, options(Object.entries(C.f.kinds), qv('kind'), C.s.any));
  const tag = h('select', { name: 'tag', id: 'data-tag' }, options(sortedTags(L).map((t) => [t.id, t.path]), qv('tag'), C.s.any));
  const sensitive = h('select', { name: 'sensitive', id: 'data-sensitive' }, options([['true', C.s.yes], ['false', C.s.no]], qv('sensitive'), C.s.any));
  const after = h('input', { type: 'date', name: 'after', id: 'data-after', value: qv('after') });
  const before = h('input', { type: 'date', name: 'before', id: 'data-before', value: qv('before') });
  const audience = h('select', { name: 'audience', id: 'data-audience' }, options(Object.entries(C.d.audiences), qv('audience') || ''));
  const dayStart = (d, plus = 0) => { const x = new Date(`${d}T00:00:00`); x.setDate(x.getDate() + plus); return x.toISOString(); };

  function query() {
    const p = new URLSearchParams();
    for (const el of [q, place, prompt, kind, tag, sensitive]) if (el.value.trim()) p.set(el.name, el.value.trim());
    if (after.value) p.set('captured_after', dayStart(after.value));
    if (before.value) p.set('captured_before', dayStart(before.value, 1));
    if (audience.value) p.set('audience', audience.value);
    return p;
  }

  const status = statusLine('data-status');
  const buttons = FORMATS.map(([fmt, file]) => {
    const b = h('button', {
      type: 'button', class: 'primary', id: `export-${fmt}`,
      onclick: async () => {
        const p = query();
        const path = `/projects/${pid}/export/${file}${p.toString() ? `?${p}` : ''}`;
        try {
          const name = await saving(b, status, () => download(path, `hearken-${file}`));
          status.textContent = C.d.downloaded(name);
        } catch { /* saving() said why */ }
      },
    }, C.d.formats[fmt]);
    return b;
  });

  return h('div', { id: 'data' }, h('h1', {}, C.d.title), h('p', {}, C.d.intro),
    h('form', { id: 'data-filters', class: 'co-filters', onsubmit: (e) => e.preventDefault() },
      field(C.s.q, q), field(C.s.place, place), field(C.s.prompt, prompt), field(C.s.kind, kind), field(C.s.tag, tag),
      field(C.s.sensitive, sensitive), field(C.s.after, after), field(C.s.before, before),
      field(C.d.audience, audience, C.d.audienceHint)),
    h('div', { class: 'actions', id: 'data-downloads' }, buttons),
    h('p', { class: 'hint' }, C.d.formatsHint), status);
}
