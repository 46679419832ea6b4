// The consent register: every consent of the project, filtered in the URL's query, a page at a time; a
// participant's data as a file; and the withdrawal page (#/co/<p>/consents/<id>/withdraw), which shows exactly
// what will be erased and asks for the participant's label before it erases anything.

import { go } from '../app.js';
import { h, field, fmtDateTime } from '../dom.js';
import { C } from './strings.js';
import { api, apiPage, download, problem, table, fmtDate, saving } from './ui.js';

const T = C.reg;
const SIZE = 25;
const FILTERS = ['participant_label', 'conversation_id', 'place', 'scope', 'state', 'from', 'to'];

export async function page(ctx) {
  if (ctx.path[1] === 'withdraw') return withdraw(ctx, ctx.path[0]);
  const { project, query } = ctx;
  const offset = Math.max(0, Number(query.get('offset')) || 0);
  const params = new URLSearchParams({ project_id: project.id, limit: SIZE, offset });
  for (const key of ['participant_label', 'conversation_id', 'place', 'scope', 'state']) {
    if (query.get(key)) params.set(key, query.get(key).trim());
  }
  // Dates are days in the coordinator's own time zone.
  if (query.get('from')) params.set('given_after', new Date(`${query.get('from')}T00:00`).toISOString());
  if (query.get('to')) params.set('given_before', new Date(new Date(`${query.get('to')}T00:00`).getTime() + 864e5).toISOString());
  const base = `/projects/${project.id}`;
  let res; let places; let forms; let members;
  try {
    [res, places, forms, members] = await Promise.all([apiPage(`/consents?${params}`), api('GET', `${base}/places`),
      api('GET', `${base}/consent-forms`), api('GET', `${base}/members`)]);
  } catch (err) {
    return h('div', {}, h('h1', {}, T.title), filters(ctx, []), problem(err));
  }
  const placeName = Object.fromEntries(places.map((p) => [p.id, p.name]));
  const version = Object.fromEntries(forms.map((f) => [f.id, f.version]));
  const person = Object.fromEntries(members.map((m) => [m.user_id, m.display_name || m.email || '']));
  const status = h('p', { class: 'status', 'aria-live': 'polite' });
  // A signature is fetched only when asked for (each look is audited) and shown in the row's own cell.
  const signature = (c) => {
    if (!c.has_signature) return C.methods[c.method] || c.method;
    const box = h('span', { class: 'signature' });
    const show = h('button', { type: 'button', class: 'small', 'aria-label': T.showSignatureOf(c.participant_label), onclick: async () => {
      try {
        const { signature: src } = await api('GET', `/consents/${c.id}/signature`);
        box.replaceChildren(h('img', { src, alt: T.signatureOf(c.participant_label), class: 'signature-img' }));
      } catch (err) { box.replaceChildren(problem(err)); }
    } }, T.showSignature);
    box.append(show);
    return h('span', {}, C.methods[c.method] || c.method, ' ', box);
  };
  const rows = res.items.length ? table([
    [T.participant, (c) => h('strong', {}, c.participant_label)],
    [T.givenAt, (c) => fmtDateTime(c.given_at)],
    [T.agreed, (c) => (c.scopes.length ? h('ul', { class: 'co-chips' }, c.scopes.map((s) => h('li', {}, T.short[s]))) : T.nothing)],
    [T.method, signature],
    [T.form, (c) => T.version(version[c.consent_form_id] || '?')],
    [T.place, (c) => placeName[c.place_id] || ''],
    [T.fragments, (c) => String(c.fragment_count)],
    [T.state, (c) => (c.withdrawn_at ? h('a', { class: 'bad', href: ctx.href('consents', `${c.id}/withdraw`) },
      T.withdrawnOn(fmtDate(c.withdrawn_at))) : T.active)],
    [T.researcher, (c) => person[c.recorded_by] || ''],
    [C.actions, (c) => h('div', { class: 'co-actions' },
      c.withdrawn_at ? null : h('a', { class: 'button small danger', href: ctx.href('consents', `${c.id}/withdraw`) }, T.withdraw),
      h('button', { type: 'button', class: 'small', 'aria-label': T.theirDataFor(c.participant_label), onclick: async () => {
        status.textContent = T.preparing;
        try { status.textContent = T.downloaded(await download(`${base}/subject-access?label=${encodeURIComponent(c.participant_label)}`, 'participant.json')); } catch (err) { status.replaceChildren(problem(err)); }
      } }, T.theirData))],
  ], res.items, { id: 'consent-table', caption: T.shown(offset + 1, offset + res.items.length, res.total),
    rowProps: (c) => ({ 'data-label': c.participant_label }) }) : h('p', { class: 'notice' }, T.noneFound);
  const at = (o) => {
    const q = new URLSearchParams(query);
    if (o) q.set('offset', o); else q.delete('offset');
    return ctx.href('consents', `?${q}`);
  };
  const pager = h('p', { class: 'co-pager' },
    offset > 0 ? h('a', { class: 'button small', href: at(Math.max(0, offset - SIZE)) }, T.prev) : null,
    offset + SIZE < res.total ? h('a', { class: 'button small', href: at(offset + SIZE) }, T.next) : null);
  return h('div', { id: 'register' }, h('h1', {}, T.title), filters(ctx, places), status, rows, pager);
}

function filters(ctx, places) {
  const q = ctx.query;
  const input = (name, type = 'text') => h('input', { type, name, value: q.get(name) || '' });
  const select = (name, options) => h('select', { name }, h('option', { value: '' }, T.any),
    options.map(([value, label]) => h('option', { value, selected: q.get(name) === value }, label)));
  const form = h('form', { class: 'co-filters', id: 'consent-filters', onsubmit: (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const key of FILTERS) if (form.elements[key].value.trim()) next.set(key, form.elements[key].value.trim());
    go(ctx.href('consents', next.toString() ? `?${next}` : ''));
  } },
  field(T.participant, input('participant_label')),
  field(T.conversation, input('conversation_id')),
  field(T.place, select('place', places.map((p) => [p.id, p.name]))),
  field(T.scope, select('scope', Object.entries(C.scopes))),
  field(T.state, select('state', [['active', T.active], ['withdrawn', T.withdrawn]])),
  field(T.from, input('from', 'date')),
  field(T.to, input('to', 'date')),
  h('div', {}, h('button', { type: 'submit', class: 'primary' }, T.filter),
    h('a', { class: 'button', href: ctx.href('consents') }, T.clear)));
  return form;
}

async function withdraw(ctx, id) {
  const back = h('p', {}, h('a', { href: ctx.href('consents') }, T.backToRegister));
  let consent; let preview;
  try {
    [consent, preview] = await Promise.all([api('GET', `/consents/${id}`), api('GET', `/consents/${id}/withdrawal-preview`)]);
  } catch (err) {
    return h('div', {}, back, h('h1', {}, T.withdrawTitle('')), problem(err));
  }
  const label = preview.participant_label;
  const head = [back, h('h1', {}, T.withdrawTitle(label)),
    h('p', {}, T.consentSummary(fmtDateTime(consent.given_at), C.methods[consent.method] || consent.method,
      consent.scopes.map((s) => C.scopes[s]).join(', ') || T.nothing))];
  if (preview.already_withdrawn) {
    return h('div', { id: 'withdraw' }, head, h('p', { class: 'notice' }, T.alreadyWithdrawn(fmtDate(consent.withdrawn_at))),
      phonesAfter(preview));
  }
  const typed = h('input', { type: 'text', name: 'confirm', autocomplete: 'off', spellcheck: 'false' });
  // A fixed code only: free text here could carry a name or what was said, and the audit log keeps it.
  const reason = h('select', { name: 'reason' }, h('option', { value: '' }, T.reasonNone),
    ...Object.entries(T.reasons).map(([code, text]) => h('option', { value: code }, text)));
  const button = h('button', { type: 'submit', class: 'primary danger-fill', disabled: true }, T.withdrawNow(label));
  typed.addEventListener('input', () => { button.disabled = typed.value !== label; });
  const status = h('p', { class: 'status', 'aria-live': 'polite' });
  const result = h('div', { id: 'withdraw-result', 'aria-live': 'polite' });
  const form = h('form', { id: 'withdraw-form', onsubmit: async (e) => {
    e.preventDefault();
    if (typed.value !== label) return;
    try {
      const r = await saving(button, status, () => api('POST', `/consents/${id}/withdraw`, reason.value ? { reason: reason.value } : {}));
      form.replaceWith(h('div', { class: 'notice' }, h('h2', {}, T.doneTitle(label)), h('ul', {},
        h('li', {}, T.erasedFragments(r.fragments_erased)), h('li', {}, T.erasedClips(r.clips_erased)),
        h('li', {}, r.signature_erased ? T.erasedSignature : T.noSignature),
        h('li', {}, T.erasedCards(r.workshop_cards_erased)),
        h('li', {}, T.erasedTags(r.tagged_fragments_erased))), h('p', {}, T.downstream),
        preview.phones_holding ? h('p', { id: 'phones-holding' }, T.phonesWillErase(preview.phones_holding)) : null));
      list.remove();
      result.append(h('a', { class: 'button', href: ctx.href('consents') }, T.backToRegister));
    } catch { button.disabled = typed.value !== label; }
  } }, h('p', { class: 'notice warn' }, T.cannotUndo),
  field(T.typeLabel(label), typed), field(T.reason, reason, T.reasonHint), button, status);
  const list = h('div', {}, h('h2', {}, T.willErase), h('ul', { id: 'erase-list' },
    h('li', {}, T.eraseFragments(preview.fragments)),
    h('li', {}, T.eraseClips(preview.clips)),
    h('li', {}, preview.signature ? T.eraseSignature : T.noSignature),
    h('li', {}, T.eraseCards(preview.workshop_cards)),
    h('li', {}, T.eraseTags(preview.tagged_fragments))), h('p', {}, T.keeps),
  h('p', { id: 'phones-holding' }, T.phonesHolding(preview.phones_holding)));
  return h('div', { id: 'withdraw' }, head, list, form, result);
}

// After a withdrawal: which phones confirmed erasing their copies, and when; and how many have not yet synced.
function phonesAfter(preview) {
  const confirmed = preview.phone_erasures;
  return h('div', { id: 'phone-erasures' }, h('h2', {}, T.phonesTitle),
    confirmed.length ? h('ul', {}, confirmed.map((e) => h('li', { 'data-device': e.device_id },
      T.phoneConfirmed(e.device_id.slice(0, 8), fmtDateTime(e.confirmed_at))))) : null,
    h('p', {}, preview.phones_holding ? T.phonesWillErase(preview.phones_holding)
      : (confirmed.length ? T.noPhoneLeft : T.noPhoneHeld)));
}
