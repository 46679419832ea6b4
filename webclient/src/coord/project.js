// Project settings: details and retention, places, prompts, self-signification questions and the consent form's
// versions; and the form for a new project (#/co/new).

import { go } from '../app.js';
import { h, field } from '../dom.js';
import { C } from './strings.js';
import { api, saveForm, draft, problem, fmtDate, download } from './ui.js';

const T = C.set;
const SCOPES = ['audio', 'quote', 'share', 'publish'];
const text = (name, value, props = {}) => h('input', { type: 'text', name, value: value || '', ...props });
const check = (label, checked, name = 'active') => {
  const box = h('input', { type: 'checkbox', name, checked });
  return [box, h('span', { class: 'check' }, h('label', {}, box, ' ', label))];
};
const refuse = (detail) => Object.assign(new Error(detail), { status: 422, detail });

export async function page(ctx) {
  const { project } = ctx;
  const base = `/projects/${project.id}`;
  let places; let prompts; let forms;
  try {
    [places, prompts, forms] = await Promise.all([api('GET', `${base}/places`), api('GET', `${base}/prompts`),
      api('GET', `${base}/consent-forms`)]);
  } catch (err) {
    return h('div', {}, h('h1', {}, T.title), problem(err));
  }
  return h('div', { id: 'settings' }, h('h1', {}, T.title),
    h('div', { class: 'co-cols' },
      h('section', {}, h('h2', {}, T.details), details(project)),
      h('section', {}, h('h2', {}, T.places), placesEditor(base, places),
        h('h2', {}, T.cards), receiptCards(base, project))),
    h('section', {}, h('h2', {}, T.prompts), h('p', { class: 'hint' }, T.promptsHint), promptsEditor(base, prompts)),
    h('section', {}, h('h2', {}, T.questions), h('p', { class: 'hint' }, T.questionsHint), questionsEditor(project)),
    h('section', {}, h('h2', {}, T.forms), formsEditor(base, forms)));
}

// Reachable from the frame by admins and coordinators (the server decides who may create one).
export function newProject() {
  return h('div', { id: 'new-project' }, h('h1', {}, T.newTitle), h('p', {}, T.newIntro), details({}));
}

function details(project) {
  const isNew = !project.id;
  const name = text('name', project.name, { required: true, maxlength: 200 });
  const desc = h('textarea', { name: 'description', rows: 4, maxlength: 5000, value: project.description || '' });
  const keep = h('input', { type: 'number', name: 'retention_days', min: 1, max: 36500, value: project.retention_days ?? '' });
  const lang = h('select', { name: 'search_language' }, Object.entries(T.searchLanguages).map(([v, label]) =>
    h('option', { value: v, selected: (project.search_language || 'english') === v }, label)));
  const contact = text('withdrawal_contact', project.withdrawal_contact, { maxlength: 300 });
  const phoneKeep = h('input', { type: 'number', name: 'phone_keep_days', min: 1, max: 90, required: true,
    value: project.phone_keep_days ?? 14 });
  const kept = draft(isNew ? 'project:new' : `project:${project.id}`);
  const form = saveForm({ id: 'project-details' }, [field(T.name, name), field(T.description, desc),
    field(T.retention, keep, T.retentionHint), field(T.searchLanguage, lang),
    field(T.withdrawalContact, contact, T.withdrawalContactHint),
    field(T.phoneKeepDays, phoneKeep, T.phoneKeepDaysHint)], () => {
    const body = { name: name.value.trim(), description: desc.value, retention_days: keep.value ? Number(keep.value) : null,
      search_language: lang.value, withdrawal_contact: contact.value.trim(), phone_keep_days: Number(phoneKeep.value) };
    if (!body.name) throw refuse(T.nameNeeded);
    return isNew ? api('POST', '/projects', body) : api('PATCH', `/projects/${project.id}`, body);
  }, { label: isNew ? T.create : C.save, done: (saved) => { kept.clear(); if (isNew) go(`#/co/${saved.id}/project`); } });
  kept.bind(form);
  return form;
}

// Pre-printed receipt cards: a PDF the server makes with new labels (never one already used in the project).
function receiptCards(base, project) {
  const count = h('input', { type: 'number', name: 'count', min: 1, max: 400, value: 24, required: true });
  const status = h('p', { class: 'status', 'aria-live': 'polite', id: 'cards-status' });
  const button = h('button', { type: 'submit', class: 'primary' }, T.cardsPrint);
  return h('form', { id: 'receipt-cards', onsubmit: async (e) => {
    e.preventDefault();
    const n = Number(count.value);
    if (!Number.isInteger(n) || n < 1 || n > 400) { status.replaceChildren(problem({ status: 422, detail: T.cardsCountBad })); return; }
    button.disabled = true;
    try {
      status.textContent = T.cardsReady(await download(`${base}/receipt-cards?count=${n}`, 'receipt-cards.pdf'));
    } catch (err) {
      status.replaceChildren(problem(err));
    } finally { button.disabled = false; }
  } }, h('p', { class: 'hint' }, T.cardsIntro),
  project.withdrawal_contact ? null : h('p', { class: 'notice warn', id: 'cards-no-contact' }, T.cardsNoContact),
  field(T.cardsCount, count), h('div', { class: 'co-save' }, button, status));
}

// One saved row per place/prompt: edits go up with that row's own Save.
function rowList(id, items, row) {
  return h('ul', { class: 'co-rows', id }, items.map(row));
}

function placesEditor(base, places) {
  const row = (p) => {
    const name = text('name', p.name, { 'aria-label': T.placeName, required: true, maxlength: 200 });
    const [active, activeLabel] = check(T.inUse, p.active);
    return h('li', { 'data-id': p.id }, saveForm({ class: 'co-row' }, [name, activeLabel],
      () => api('PATCH', `/places/${p.id}`, { name: name.value.trim(), active: active.checked }), { cls: 'small' }));
  };
  const list = rowList('place-list', places, row);
  const name = text('name', '', { required: true, maxlength: 200 });
  const hint = list.children.length ? null : h('p', { class: 'hint', id: 'no-places' }, T.noPlaces);
  const add = saveForm({ id: 'add-place', class: 'co-row' }, field(T.newPlace, name),
    () => api('POST', `${base}/places`, { name: name.value.trim() }),
    { label: T.add, cls: 'small', done: (p) => { list.append(row(p)); name.value = ''; if (hint) hint.remove(); } });
  return [hint, list, add];
}

function promptsEditor(base, prompts) {
  const sorted = [...prompts].sort((a, b) => a.position - b.position);
  // Numbers people read: the first prompt is 1.
  let next = sorted.reduce((m, p) => Math.max(m, p.position + 1), 1);
  const row = (p) => {
    const words = text('text', p.text, { 'aria-label': T.promptText, required: true, maxlength: 500, class: 'grow' });
    const pos = h('input', { type: 'number', name: 'position', min: 1, max: 10000, value: p.position, 'aria-label': T.position, class: 'narrow' });
    const [active, activeLabel] = check(T.inUse, p.active);
    return h('li', { 'data-id': p.id }, saveForm({ class: 'co-row' }, [pos, words, activeLabel],
      () => api('PATCH', `/prompts/${p.id}`, { text: words.value.trim(), position: Number(pos.value) || 1, active: active.checked }),
      { cls: 'small' }));
  };
  const list = rowList('prompt-list', sorted, row);
  const words = text('text', '', { required: true, maxlength: 500 });
  const add = saveForm({ id: 'add-prompt', class: 'co-row' }, field(T.newPrompt, words),
    () => api('POST', `${base}/prompts`, { text: words.value.trim(), position: next }),
    { label: T.add, cls: 'small', done: (p) => { next = p.position + 1; list.append(row(p)); words.value = ''; } });
  return [list, add];
}

// How the slider looks on the phone before anyone answers: no thumb at all (a thumb at the middle would read as an
// answer of 50); it appears where the participant first touches the track.
function sliderPreview(q) {
  const answered = () => range.classList.remove('unanswered');
  // A touch at the very middle changes no value, so it fires no input event: the touch itself answers.
  const range = h('input', { type: 'range', min: 0, max: 100, step: 1, value: 50, class: 'unanswered', 'aria-label': T.sliderPreview,
    oninput: answered, onpointerdown: answered, onkeydown: answered });
  return h('div', { class: 'slider-preview' }, h('p', { class: 'hint' }, T.sliderPreviewHint),
    h('div', { class: 'slider-row' }, h('span', {}, q.left || '…'), range, h('span', {}, q.right || '…')));
}

// Questions are saved together (they are one field of the project); checked here before they go.
function questionsEditor(project) {
  const qs = (project.questions || []).map((q) => ({ ...q, options: q.options ? q.options.join('\n') : '' }));
  const box = h('div', { id: 'question-list' });
  const bind = (q, key, control) => {
    control.addEventListener('input', () => { q[key] = control.value; });
    return control;
  };
  const draw = () => box.replaceChildren(...qs.map((q, i) => h('fieldset', { class: 'co-question' },
    h('legend', {}, T.questionN(i + 1, q.type === 'slider' ? T.slider : T.choice)),
    field(T.qLabel, bind(q, 'label', text('label', q.label, { maxlength: 300 }))),
    q.type === 'slider'
      ? [h('div', { class: 'co-cols' }, field(T.left, bind(q, 'left', text('left', q.left, { maxlength: 120 }))),
        field(T.right, bind(q, 'right', text('right', q.right, { maxlength: 120 })))), sliderPreview(q)]
      : field(T.options, bind(q, 'options', h('textarea', { name: 'options', rows: 4, value: q.options })), T.optionsHint),
    h('button', { type: 'button', class: 'small danger', onclick: () => { qs.splice(i, 1); draw(); } }, T.removeQuestion))));
  draw();
  const adder = (type) => h('button', { type: 'button', class: 'small', onclick: () => {
    qs.push({ type, label: '', left: '', right: '', options: '' });
    draw();
    box.lastChild.querySelector('input').focus();
  } }, type === 'slider' ? T.addSlider : T.addChoice);
  return saveForm({ id: 'questions' }, [box, h('p', {}, adder('slider'), adder('choice'))],
    () => api('PATCH', `/projects/${project.id}`, { questions: checkQuestions(qs) }), { label: T.saveQuestions });
}

function checkQuestions(qs) {
  const ids = new Set(qs.filter((q) => q.id).map((q) => q.id));
  return qs.map((q, i) => {
    const n = i + 1;
    const label = (q.label || '').trim();
    if (!label) throw refuse(T.qNeedsLabel(n));
    let id = q.id;
    if (!id) {
      const stem = label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 34) || 'q';
      id = stem;
      for (let k = 2; ids.has(id); k++) id = `${stem}-${k}`;
      ids.add(id);
      q.id = id;
    }
    if (q.type === 'slider') {
      const left = (q.left || '').trim(); const right = (q.right || '').trim();
      if (!left || !right) throw refuse(T.qNeedsPoles(n));
      return { id, type: 'slider', label, left, right };
    }
    const options = q.options.split('\n').map((o) => o.trim()).filter(Boolean);
    if (options.length < 2 || options.length > 20) throw refuse(T.qNeedsOptions(n));
    if (new Set(options).size !== options.length) throw refuse(T.qDuplicateOption(n));
    if (options.some((o) => o.length > 120)) throw refuse(T.qLongOption(n));
    return { id, type: 'choice', label, options };
  });
}

function formsEditor(base, forms) {
  const box = h('div', {});
  const title = text('title', '', { required: true, maxlength: 200 });
  const body = h('textarea', { name: 'body', rows: 10, maxlength: 50000 });
  const scopes = SCOPES.map((s) => check(C.scopes[s], true, s));
  let editing = null; // a version no consent refers to yet, being corrected
  const heading = h('h3', { id: 'form-editor-title' }, T.newVersion);
  const fill = (f, form, focus = true) => {
    editing = form;
    heading.textContent = form ? T.correctVersion(form.version) : T.newVersion;
    title.value = f ? f.title : '';
    body.value = f ? f.body : '';
    scopes.forEach(([box2], i) => { box2.checked = f ? f.scopes.includes(SCOPES[i]) : true; });
    if (focus) { editor.scrollIntoView({ block: 'start' }); title.focus(); }
  };
  const list = () => {
    if (!forms.length) return h('p', { class: 'notice warn' }, T.noForm);
    return h('ul', { class: 'co-rows', id: 'form-list' }, forms.map((f) => h('li', { 'data-version': f.version },
      h('details', {}, h('summary', {}, h('strong', {}, T.version(f.version)), ' ', f.title, ' — ',
        f.current ? T.current : T.superseded, ', ', f.in_use ? T.inUse2 : T.unused, ', ', fmtDate(f.created_at)),
      h('p', {}, T.asks, ' ', f.scopes.map((s) => C.scopes[s]).join(', ')),
      h('div', { class: 'co-text' }, f.body)),
      f.in_use
        ? [h('span', { class: 'hint' }, T.supersededOnly), ' ',
          h('button', { type: 'button', class: 'small', onclick: () => fill(f, null) }, T.writeFrom(f.version))]
        : h('button', { type: 'button', class: 'small', onclick: () => fill(f, f) }, T.correct))));
  };
  const editor = saveForm({ id: 'form-editor', 'aria-labelledby': 'form-editor-title' }, [heading,
    field(T.formTitle, title), field(T.formBody, body, T.formBodyHint),
    h('fieldset', { class: 'co-scopes' }, h('legend', {}, T.scopesAsked), scopes.map(([, label]) => label))], () => {
    const data = { title: title.value.trim(), body: body.value, scopes: SCOPES.filter((s, i) => scopes[i][0].checked) };
    if (!data.title || !data.body.trim()) throw refuse(T.formNeedsText);
    if (!data.scopes.length) throw refuse(T.formNeedsScope);
    return editing ? api('PATCH', `/consent-forms/${editing.id}`, data) : api('POST', `${base}/consent-forms`, data);
  }, { label: T.saveForm, done: async () => {
    forms = await api('GET', `${base}/consent-forms`).catch(() => forms);
    box.replaceChildren(list());
    fill(null, null, false);
  } });
  box.append(list());
  return [box, editor];
}
