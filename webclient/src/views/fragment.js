// Capturing fragments against a consented participant. The form refuses what the consent does not
// allow (a quote without the "quote" scope) before the server has to.

import { S } from '../strings.js';
import { h, field, isoNow, uid } from '../dom.js';
import { A, addFragment, audioMaxSeconds, go, isMine } from '../app.js';
import { scopesNow, uuid } from '../db.js';
import { backLink, findById, oneSave } from './common.js';
import { recorder } from './recorder.js';

export const MAX_TEXT = 5000;

function slider(q) {
  const input = h('input', { type: 'range', min: '0', max: '100', step: '1', value: '50', 'data-question': q.id });
  const out = h('output', { class: 'value' }, S.notAnswered);
  let answered = false;
  const set = (v) => {
    answered = v;
    out.textContent = v ? S.sliderValue(input.value) : S.notAnswered;
    input.setAttribute('aria-valuetext', out.textContent);
    wrap.classList.toggle('unanswered', !v);
  };
  input.addEventListener('input', () => set(true));
  const id = uid('q');
  input.id = id;
  const wrap = h('div', { class: 'field slider unanswered' }, h('label', { for: id }, q.label),
    h('div', { class: 'poles', 'aria-hidden': 'true' }, h('span', {}, q.left), h('span', {}, q.right)),
    input, out, h('button', { type: 'button', class: 'small', onclick: () => { input.value = '50'; set(false); } }, S.clearAnswer));
  input.setAttribute('aria-valuetext', S.notAnswered);
  input.setAttribute('aria-description', `${q.left} – ${q.right}`);
  return { el: wrap, value: () => (answered ? Number(input.value) : undefined), reset: () => { input.value = '50'; set(false); } };
}

function choice(q) {
  const sel = h('select', { 'data-question': q.id }, h('option', { value: '' }, S.choose),
    (q.options || []).map((o) => h('option', { value: o }, o)));
  return { el: field(q.label, sel), value: () => sel.value || undefined, reset: () => { sel.value = ''; } };
}

export async function fragmentView(convId, consentId) {
  const recs = (await A.db.recordsOfConversation(convId)).filter(isMine);
  const conv = recs.find((r) => r.id === convId);
  const everyone = recs.filter((r) => r.type === 'consent');
  if (!conv || !everyone.length) { go(conv ? `#/c/${convId}` : '#/'); return h('section'); }
  // A participant who withdrew consent: nothing more is captured for them, and the screen says why.
  const consents = everyone.filter((r) => !r.erased);
  const asked = everyone.find((r) => r.id === consentId);
  if (!consents.length || (asked && asked.erased)) {
    return h('section', { class: 'screen' }, backLink(`#/c/${convId}`), h('h1', {}, S.captureTitle),
      h('p', { class: 'notice warn', role: 'alert', id: 'capture-refused' },
        S.withdrawnParticipant(asked ? asked.data.participant_label : '')));
  }
  const kit = A.kit || { project: { questions: [] }, prompts: [] };

  const who = h('select', { name: 'consent' }, consents.map((c) =>
    h('option', { value: c.id, selected: c.id === consentId }, c.data.participant_label)));
  const kindIds = {};
  const refusal = h('p', { class: 'notice warn', id: 'quote-refused', hidden: true }, S.quoteRefused);
  const kinds = h('fieldset', { class: 'kinds', 'aria-describedby': 'quote-refused' }, h('legend', {}, S.kind),
    Object.entries(S.kinds).map(([k, text]) => {
      kindIds[k] = uid('kind');
      return h('div', { class: 'choice' },
        h('input', { type: 'radio', name: 'kind', id: kindIds[k], value: k, checked: k === 'paraphrase' }),
        h('label', { for: kindIds[k] }, text));
    }), refusal);
  const quoteBox = () => kinds.querySelector(`#${kindIds.quote}`);
  const allowsQuote = () => {
    const c = consents.find((r) => r.id === who.value);
    return Boolean(c && scopesNow(c).includes('quote'));
  };
  const gate = () => {
    const ok = allowsQuote();
    quoteBox().disabled = !ok;
    refusal.hidden = ok;
    if (!ok && quoteBox().checked) kinds.querySelector('input[value=paraphrase]').checked = true;
  };
  who.addEventListener('change', gate);

  // Recording is offered only under a consent with the audio scope; changing participant drops the clip.
  const rec = recorder({ maxSeconds: audioMaxSeconds() });
  const noAudio = h('p', { class: 'hint', id: 'no-audio' }, S.noAudioConsent);
  const allowsAudio = () => {
    const c = consents.find((r) => r.id === who.value);
    return Boolean(c && scopesNow(c).includes('audio'));
  };
  const audioGate = () => {
    const ok = allowsAudio();
    if (!ok) rec.reset();
    rec.el.hidden = !ok;
    noAudio.hidden = ok;
  };
  who.addEventListener('change', audioGate);

  const count = h('p', { class: 'hint', id: uid('count') }, S.chars(0, MAX_TEXT));
  const text = h('textarea', {
    name: 'text', rows: '6', maxlength: String(MAX_TEXT), required: true, 'aria-describedby': count.id,
    oninput: () => { count.textContent = S.chars(text.value.length, MAX_TEXT); },
  });
  const textId = uid('text');
  text.id = textId;
  const language = h('input', { type: 'text', name: 'language', value: 'en', maxlength: '35', autocapitalize: 'none', spellcheck: 'false' });
  const promptIds = conv.data.prompt_ids && conv.data.prompt_ids.length ? conv.data.prompt_ids : (kit.prompts || []).map((p) => p.id);
  const prompts = promptIds.map((id) => findById(kit.prompts, id)).filter(Boolean);
  const prompt = h('select', { name: 'prompt' }, h('option', { value: '' }, S.noPrompt),
    prompts.map((p) => h('option', { value: p.id }, p.text)));
  const questions = ((kit.project && kit.project.questions) || []).map((q) => ({ q, w: q.type === 'slider' ? slider(q) : choice(q) }));
  const sensitiveId = uid('sens');
  const sensitive = h('input', { type: 'checkbox', id: sensitiveId, name: 'sensitive' });
  const error = h('p', { class: 'error', role: 'alert' });
  const saved = h('p', { class: 'saved', role: 'status', id: 'saved' });

  // The id of the fragment this form is making; a new one only once that fragment is saved.
  let recordId = uuid();
  // Just saved and not touched since: a late second tap of the same save is not a new, empty attempt.
  let justSaved = false;
  const submit = h('button', { type: 'submit', class: 'primary big' }, S.saveFragment);
  const onsubmit = oneSave(submit, async () => {
    if (justSaved) return;
    error.textContent = '';
    saved.textContent = '';
    const kind = kinds.querySelector('input[name=kind]:checked').value;
    const body = text.value.trim();
    let problem = null;
    if (kind === 'quote' && !allowsQuote()) problem = [S.quoteRefused, who];
    else if (!body) problem = [S.needText, text];
    else if (body.length > MAX_TEXT) problem = [S.tooLong(MAX_TEXT), text];
    else if (rec.pending()) problem = [S.keepOrDiscard, rec.el.querySelector('#keep-clip, #stop-recording')];
    if (problem) { error.textContent = problem[0]; if (problem[1]) problem[1].focus(); return; }
    const data = {
      conversation_id: convId, consent_id: who.value, kind, text: body,
      language: language.value.trim() || 'en', captured_at: isoNow(), sensitive: sensitive.checked,
    };
    if (prompt.value) data.prompt_id = prompt.value;
    const answers = {};
    for (const { q, w } of questions) {
      const v = w.value();
      if (v !== undefined) answers[q.id] = v;
    }
    if (Object.keys(answers).length) data.answers = answers;
    await addFragment(data, allowsAudio() ? rec.clip() : null, recordId);
    recordId = uuid();
    justSaved = true;
    rec.reset();
    text.value = '';
    count.textContent = S.chars(0, MAX_TEXT);
    sensitive.checked = false;
    questions.forEach(({ w }) => w.reset());
    saved.textContent = S.saved;
    text.focus();
  });

  const chosen = consents.find((c) => c.id === consentId);
  const node = h('section', { class: 'screen' }, backLink(`#/c/${convId}`), h('h1', {}, S.captureTitle),
    chosen ? h('p', {}, h('a', { href: `#/c/${convId}/receipt/${chosen.id}`, id: 'to-receipt', class: 'button' },
      S.receiptLink(chosen.data.participant_label))) : null,
    h('form', {
      id: 'fragment', onsubmit, novalidate: true,
      oninput: () => { justSaved = false; }, onchange: () => { justSaved = false; }, onclick: (e) => { if (e.target !== submit) justSaved = false; },
    },
      field(S.participant, who), kinds,
      h('div', { class: 'field' }, h('label', { for: textId }, S.text), text, count),
      rec.el, noAudio,
      field(S.language, language), prompts.length ? field(S.prompt, prompt) : null,
      questions.length ? h('fieldset', { class: 'questions' }, h('legend', {}, S.questions), questions.map(({ w }) => w.el)) : null,
      h('div', { class: 'check' }, sensitive, h('label', { for: sensitiveId }, S.sensitive)),
      error, saved, submit));
  gate();
  audioGate();
  return node;
}
fragmentView.screen = 'capture';
