// Workshops: the list and a new one; a workshop's page (state, the pack as cards the audience may see, what was
// left out and why, printed cards to take out after a withdrawal, printing, paper themes); its live board; its
// report. Every card comes from the server's one card rule: this page never decides what may be shown.

import { A, go } from '../app.js';
import { h, field, objectURL, openFile } from '../dom.js';
import { createBoard } from './board.js';
import { C } from './strings.js';
import { api, problem, saveForm } from './ui.js';

const T = C.ws;
const NEXT = { draft: ['ready'], ready: ['running', 'draft', 'closed'], running: ['closed'], closed: [] };

let styled = false;

export async function page(ctx) {
  if (!styled) {
    styled = true;
    document.head.append(h('link', { rel: 'stylesheet', href: 'src/coord/workshops.css' }));
  }
  const [id, sub] = ctx.path;
  try {
    if (!id) return await list(ctx);
    const w = await api('GET', `/workshops/${id}`);
    if (sub === 'board') return board(ctx, w);
    if (sub === 'report') return await report(ctx, w);
    return await detail(ctx, w);
  } catch (err) {
    return h('div', {}, h('h1', {}, T.title), problem(err));
  }
}

async function list(ctx) {
  const all = await api('GET', `/projects/${ctx.project.id}/workshops`);
  // saveForm: the button is held while the request is out, so a double click plans one workshop, not two.
  const form = saveForm({ id: 'workshop-new', class: 'co-form' }, [
    field(T.name, h('input', { name: 'title', required: true, maxlength: 200 })),
    field(T.when, h('input', { name: 'starts_at', type: 'datetime-local', required: true })),
    field(T.venue, h('input', { name: 'venue', maxlength: 300 })),
    field(T.question, h('textarea', { name: 'question', rows: 2, maxlength: 2000 })),
    field(T.audience, h('select', { name: 'audience' }, Object.entries(T.audiences).map(([v, l]) => h('option', { value: v }, l))))],
  () => {
    const f = form.elements;
    return api('POST', `/projects/${ctx.project.id}/workshops`, {
      title: f.title.value, starts_at: new Date(f.starts_at.value).toISOString(), venue: f.venue.value,
      question: f.question.value, audience: f.audience.value });
  }, { label: T.create, leaves: true, done: (w) => go(ctx.href('workshops', w.id)) });
  return h('div', { id: 'workshops' }, h('h1', {}, T.title), h('p', { class: 'hint' }, T.intro),
    all.length ? h('ul', { class: 'workshop-list' }, all.map((w) => h('li', {},
      h('a', { href: ctx.href('workshops', w.id) }, w.title), ` — ${new Date(w.starts_at).toLocaleDateString()} · `,
      T.states[w.state], ` · ${T.audiences[w.audience]}`))) : h('p', { class: 'notice' }, T.none),
    h('h2', {}, T.create), form);
}

function cardNode(c, action = null) {
  return h('article', { class: 'print-card', lang: c.language, dir: 'auto', 'data-number': c.number ?? '' },
    h('span', { class: 'num' }, c.number ?? '·'), h('p', {}, c.text),
    h('small', {}, [c.kind, c.prompt, c.place, c.month].filter(Boolean).join(' · ')), action);
}

async function detail(ctx, w) {
  const pack = await api('GET', `/workshops/${w.id}/pack`);
  const again = () => go(ctx.href('workshops', w.id) + `?t=${Date.now()}`);
  const states = h('div', { class: 'workshop-states no-print' }, NEXT[w.state].map((to) => h('button', {
    type: 'button', class: to === 'closed' ? 'danger' : 'primary', 'data-to': to, onclick: async () => {
      if (to === 'closed' && !confirm(T.confirmClose)) return;
      if (to === 'draft' && !confirm(T.confirmDraft)) return;
      try { await api('POST', `/workshops/${w.id}/state`, { state: to }); again(); } catch (err) { states.append(problem(err)); }
    } }, T.to[to])));
  const joinUrl = `${location.origin}${location.pathname.replace(/[^/]*$/, '')}join.html#${w.short_code}`;
  const qr = h('span', { class: 'join-qr' });
  if (w.audience !== 'project' && w.state !== 'draft') api('GET', `/workshops/${w.id}/join`).then((j) => qr.append(h('img', { alt: T.qrAlt, width: 180, height: 180,
    src: objectURL(new Blob([j.qr_svg], { type: 'image/svg+xml' })) }))).catch(() => {});
  const left = Object.entries(pack.left_out);
  const withdrawn = pack.withdrawn.length ? h('section', { class: 'notice warn no-print', id: 'withdrawn-cards', role: 'alert' },
    h('h2', {}, T.withdrawnTitle), h('ul', {}, pack.withdrawn.map((x) => h('li', {}, x.message, ' ',
      h('button', { type: 'button', onclick: async (e) => {
        if (!confirm(T.confirmTakenOut(x.number))) return;
        try { await api('POST', `/workshops/${w.id}/withdrawn/${x.number}/confirm`); again(); } catch (err) { e.target.after(problem(err)); }
      } }, T.confirmRemoved))))) : null;
  const sensitive = w.state === 'draft' && w.audience !== 'public'
    ? pack.left_out_items.filter((x) => x.reason === 'sensitive_not_included') : [];
  const includeSensitive = (fragmentId, include) => async (e) => {
    try { await api('PUT', `/workshops/${w.id}/pack/${fragmentId}/sensitive`, { include }); again(); } catch (err) { e.target.after(problem(err)); }
  };
  const paper = h('textarea', { id: 'paper-themes', rows: 6, 'aria-labelledby': 'paper-title', 'aria-describedby': 'paper-hint' });
  const paperStatus = h('p', { class: 'status', 'aria-live': 'polite' });
  const pdf = (q) => `/api/v1/workshops/${w.id}/cards.pdf?${q}`;
  const download = (q) => async () => {
    const res = await fetch(pdf(q), { headers: { Authorization: `Bearer ${A.session.token}` } });
    openFile(await res.blob());
  };
  return h('div', { id: 'workshop', 'data-state': w.state },
    h('header', { class: 'no-print' }, h('h1', {}, w.title),
      h('p', {}, `${new Date(w.starts_at).toLocaleString()} · ${w.venue} · ${T.audiences[w.audience]} · ${T.states[w.state]}`),
      w.question ? h('p', { class: 'question' }, w.question) : null,
      w.audience === 'project' ? h('p', { id: 'team-board' }, T.teamBoard)
        // Joining is refused until the pack is frozen: no code to hand out before then.
        : w.state === 'draft' ? h('p', { id: 'code-once-frozen' }, T.codeOnceFrozen)
          : [h('p', {}, `${T.code}: `, h('strong', { id: 'workshop-code' }, w.short_code), ' — ', T.joinAt(joinUrl)), qr],
      states,
      h('p', { class: 'workshop-links' },
        ['ready', 'running'].includes(w.state) ? h('a', { class: 'button', id: 'open-board', href: ctx.href('workshops', `${w.id}/board`) }, T.board) : null,
        h('a', { class: 'button', href: ctx.href('workshops', `${w.id}/report`) }, T.report),
        h('button', { type: 'button', onclick: download('paper=a4') }, T.pdfA4),
        h('button', { type: 'button', onclick: download('paper=letter') }, T.pdfLetter),
        h('button', { type: 'button', onclick: download('paper=a4&large=true') }, T.pdfLarge),
        h('button', { type: 'button', id: 'print-page', onclick: () => window.print() }, T.printPage))),
    withdrawn,
    h('p', { class: 'no-print', id: 'pack-summary' }, T.cards(pack.cards.length),
      left.length ? ` · ${T.leftOut}: ${left.map(([k, n]) => `${n} ${T.reasons[k] || k}`).join(', ')}` : ''),
    // Included knowingly, one by one: the coordinator reads the words first, and can leave a card out again.
    sensitive.length ? h('section', { class: 'no-print', id: 'sensitive-left-out', 'aria-labelledby': 'sensitive-title' },
      h('h2', { id: 'sensitive-title' }, T.sensitiveTitle), h('p', { class: 'hint' }, T.sensitiveHint),
      h('ul', {}, sensitive.map((x) => h('li', { 'data-fragment': x.fragment_id },
        h('blockquote', { dir: 'auto' }, x.text), h('button', { type: 'button', onclick: includeSensitive(x.fragment_id, true) }, T.include))))) : null,
    h('div', { class: 'print-cards', id: 'pack-cards' }, pack.cards.map((c) => (w.state === 'draft' && c.sensitive
      ? cardNode(c, h('button', { type: 'button', class: 'no-print leave-out', onclick: includeSensitive(c.fragment_id, false) }, T.leaveOut))
      : cardNode(c)))),
    ['ready', 'running'].includes(w.state) ? h('form', { class: 'co-form no-print', id: 'paper-form', onsubmit: async (e) => {
      e.preventDefault();
      try {
        // Recording replaces the board's groups: a board sorted live is not lost to a sheet typed by mistake.
        const { themes } = await api('GET', `/workshops/${w.id}/board`);
        if (themes.length && !confirm(T.confirmPaper(themes.map((t) => t.name || T.unnamed)))) return;
        const r = await api('POST', `/workshops/${w.id}/paper`, { text: paper.value });
        paperStatus.textContent = T.paperSaved(r.themes, r.cards);
      } catch (err) { paperStatus.textContent = err.detail || String(err); paperStatus.setAttribute('role', 'alert'); }
    } }, h('h2', { id: 'paper-title' }, T.paper), h('p', { class: 'hint', id: 'paper-hint' }, T.paperHint), paper,
    h('button', { type: 'submit', class: 'primary' }, T.paperSave), paperStatus) : null);
}

function board(ctx, w) {
  const b = createBoard({ base: `/api/v1/workshops/${w.id}/board`, token: A.session.token, queueKey: `hearken-board-${w.id}`,
    strings: C.board });
  b.start().catch(() => {});
  window.__board = b;
  const qr = h('span', { class: 'join-qr board-qr' });
  if (w.audience !== 'project') api('GET', `/workshops/${w.id}/join`).then((j) => qr.append(h('img', { alt: T.qrAlt, width: 120, height: 120,
    src: objectURL(new Blob([j.qr_svg], { type: 'image/svg+xml' })) }))).catch(() => {});
  return h('div', { id: 'workshop-board', class: 'board-page' }, qr,
    h('p', { class: 'no-print' }, h('a', { href: ctx.href('workshops', w.id) }, w.title), ` · ${T.code} `, h('strong', {}, w.short_code)),
    w.question ? h('h1', { class: 'board-question' }, w.question) : null, b.root);
}

async function report(ctx, w) {
  const r = await api('GET', `/workshops/${w.id}/report`);
  const pdf = async () => {
    const res = await fetch(`/api/v1/workshops/${w.id}/report.pdf`, { headers: { Authorization: `Bearer ${A.session.token}` } });
    openFile(await res.blob());
  };
  const count = (obj) => Object.entries(obj).map(([k, n]) => `${k} (${n})`).join(', ');
  return h('div', { id: 'workshop-report' }, h('h1', {}, w.title), h('p', {}, `${r.date} · ${T.audiences[w.audience]}`),
    h('p', { class: 'no-print' }, h('button', { type: 'button', id: 'report-pdf', onclick: pdf }, T.reportPdf)),
    h('p', { class: 'question' }, r.question),
    h('h2', {}, T.themes), r.themes.map((t) => h('section', { class: 'report-theme' },
      h('h3', {}, `${t.name || '—'} · ${T.cards(t.card_count)}`),
      h('p', { class: 'hint' }, `${T.spread}: ${count(t.places)}; ${count(t.prompts)}`),
      t.notes.length ? h('ul', { class: 'notes' }, t.notes.map((n) => h('li', {}, n))) : null,
      h('div', { class: 'print-cards' }, t.cards.map((c) => cardNode(c))))),
    r.notes.length ? [h('h2', {}, T.notes), h('ul', {}, r.notes.map((n) => h('li', {}, n)))] : null,
    h('p', { class: 'hint' }, T.unthemed(r.unthemed_cards)));
}

// "Add the selection to a workshop": one button for the Review, Search and Tagging pages. `selected()` answers the
// chosen fragment ids.
// `found()`, where the list shows a page of a longer result: how many match in all, so adding only what is shown
// is said, not silent.
export function addToWorkshopButton(projectId, selected, found = () => 0) {
  const status = h('span', { class: 'status', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'add-to-workshop', onclick: async () => {
    const ids = selected();
    if (!ids.length) return;
    if (found() > ids.length && !confirm(T.onlyShown(ids.length, found()))) return;
    try {
      const drafts = (await api('GET', `/projects/${projectId}/workshops`)).filter((w) => w.state === 'draft');
      if (!drafts.length) { status.textContent = T.noDrafts; return; }
      let target = drafts[0];
      if (drafts.length > 1) {
        const answer = prompt(`${T.pickWorkshop}\n${drafts.map((w, i) => `${i + 1}. ${w.title}`).join('\n')}`, '1');
        target = drafts[Number(answer) - 1];
        if (!target) return;
      }
      status.textContent = T.added(await api('POST', `/workshops/${target.id}/pack`, { fragment_ids: ids }));
    } catch (err) { status.textContent = err.detail || String(err); }
  } }, T.addSelection);
  return h('span', { class: 'add-to-workshop-wrap' }, button, status);
}
