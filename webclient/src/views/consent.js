// Taking one participant's consent: label, the consent form text, a yes/no per scope, the method,
// and a signature drawn on screen when the method is "signed".

import { S } from '../strings.js';
import { h, field, isoNow, uid } from '../dom.js';
import { uuid } from '../db.js';
import { A, addConsent, go, isMine } from '../app.js';
import { backLink, oneSave } from './common.js';

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ'; // no 0/O or 1/I to misread

// A consent form's body as plain text with a little Markdown: blank lines part paragraphs, lines starting with
// "- ", "* " or "• " are a bulleted list. Only text nodes are made: no HTML in a form ever reaches the page.
export function formBody(text) {
  const out = [];
  for (const block of String(text || '').replace(/\r\n?/g, '\n').split(/\n\s*\n/)) {
    let para = [];
    let list = null;
    const flush = () => { if (para.length) out.push(h('p', {}, para.join(' '))); para = []; };
    for (const raw of block.split('\n')) {
      const line = raw.trim();
      if (!line) continue;
      const item = line.match(/^(?:[-*•])\s+(.*)$/);
      if (item) {
        flush();
        if (!list) { list = h('ul', {}); out.push(list); }
        list.append(h('li', {}, item[1]));
      } else if (list && /^\s/.test(raw)) {
        list.lastChild.append(` ${line}`); // an indented line goes on with the point above it
      } else {
        list = null;
        para.push(line);
      }
    }
    flush();
  }
  return out;
}

export function suggestLabel(taken = []) {
  for (;;) {
    const b = crypto.getRandomValues(new Uint8Array(6)); // six characters, as printed receipt cards: a billion labels
    const label = `P-${[...b].map((x) => ALPHABET[x % ALPHABET.length]).join('')}`;
    if (!taken.includes(label)) return label;
  }
}

function yesNo(name, legend) {
  const yes = uid('y');
  const no = uid('n');
  return h('fieldset', { class: 'yesno', 'data-scope': name }, h('legend', {}, legend),
    h('div', { class: 'choice' }, h('input', { type: 'radio', name: `scope-${name}`, id: yes, value: 'yes', required: true }),
      h('label', { for: yes }, S.yes)),
    h('div', { class: 'choice' }, h('input', { type: 'radio', name: `scope-${name}`, id: no, value: 'no' }),
      h('label', { for: no }, S.no)));
}

function signaturePad() {
  const canvas = h('canvas', { width: '320', height: '160', class: 'signature', role: 'img', 'aria-label': S.signHere, tabindex: '-1' });
  const ctx = canvas.getContext('2d');
  let drawing = false;
  let drawn = false;
  const clear = () => {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawn = false;
  };
  clear();
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
  };
  canvas.addEventListener('pointerdown', (e) => {
    drawing = true;
    canvas.setPointerCapture(e.pointerId);
    ctx.beginPath();
    ctx.moveTo(...at(e));
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    ctx.lineWidth = 2.5;
    ctx.lineCap = 'round';
    ctx.strokeStyle = '#000';
    ctx.lineTo(...at(e));
    ctx.stroke();
    drawn = true;
  });
  canvas.addEventListener('pointerup', () => { drawing = false; });
  const box = h('div', { class: 'field', id: 'signature-box', hidden: true },
    h('p', { class: 'label' }, S.signHere), h('p', { class: 'hint' }, S.signHint), canvas,
    h('button', { type: 'button', onclick: clear }, S.clearSignature));
  return { box, canvas, isDrawn: () => drawn, dataURL: () => canvas.toDataURL('image/png') };
}

// A label as stored: what was typed or read off a card, without spaces, in capitals ("p-4kq7 " is P-4KQ7).
export const normaliseLabel = (text) => String(text || '').replace(/\s+/g, '').toUpperCase();
const LABEL = /^[A-Z0-9][A-Z0-9_-]{0,39}$/; // as the server takes it

// Labels already given in this project on this phone (any conversation): a card's label names one participant.
async function labelsInProject(projectId) {
  const all = await A.db.allRecords();
  const convs = new Set(all.filter((r) => r.type === 'conversation' && r.data.project_id === projectId).map((r) => r.id));
  return all.filter((r) => r.type === 'consent' && convs.has(r.data.conversation_id)).map((r) => r.data.participant_label);
}

// "Scan card": the browser's own QR reader (BarcodeDetector) on the back camera, where the phone has one; otherwise
// the researcher types the label printed on the card. No decoder is shipped: phones without one type four characters.
function cardScanner(onRead, note, fallback) {
  const box = h('div', { id: 'scan-box', class: 'field', hidden: true });
  let opening = false; // a second tap while the camera opens (or runs) opens no second camera
  const scan = async () => {
    if (opening || !box.hidden) return;
    note.textContent = '';
    const md = navigator.mediaDevices;
    if (!('BarcodeDetector' in window) || !md || !md.getUserMedia) { note.textContent = S.cannotScan; fallback(); return; }
    let detector;
    let stream;
    opening = true;
    try {
      detector = new window.BarcodeDetector({ formats: ['qr_code'] });
      stream = await md.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    } catch {
      note.textContent = detector ? S.cameraRefused : S.cannotScan;
      fallback();
      return;
    } finally { opening = false; }
    const video = h('video', { class: 'scan-video', playsinline: true, muted: true, id: 'scan-video' });
    video.muted = true;
    video.srcObject = stream;
    let on = true;
    const stop = () => {
      if (!on) return;
      on = false;
      stream.getTracks().forEach((t) => t.stop());
      box.hidden = true;
      box.replaceChildren();
      window.removeEventListener('hashchange', stop);
    };
    window.addEventListener('hashchange', stop);
    box.replaceChildren(video, h('p', { class: 'hint' }, S.scanHint),
      h('button', { type: 'button', id: 'scan-stop', onclick: () => { stop(); fallback(); } }, S.scanCancel));
    box.hidden = false;
    await video.play().catch(() => {});
    const look = async () => {
      if (!on) return;
      let codes = [];
      try { codes = await detector.detect(video); } catch { /* no frame yet */ }
      const raw = codes.map((c) => c.rawValue).find(Boolean);
      if (raw) { stop(); onRead(raw); } else setTimeout(look, 250);
    };
    look();
  };
  const button = h('button', { type: 'button', id: 'scan-card', onclick: scan }, S.scanCard);
  return { button, box };
}

export async function consentView(convId) {
  const found = await A.db.getRecord(convId);
  const conv = isMine(found) ? found : null;
  const form = A.kit && A.kit.consent_form;
  if (!conv || !form) { go(conv ? `#/c/${convId}` : '#/'); return h('section'); }
  const taken = await labelsInProject(conv.data.project_id);
  const label = h('input', { type: 'text', name: 'label', value: suggestLabel(taken), autocapitalize: 'characters', maxlength: '40', required: true });
  const labelProblem = (value) => (!LABEL.test(value) ? S.badLabel : taken.includes(value) ? S.labelUsed(value) : null);
  const scopes = form.scopes || [];
  const scopeSets = scopes.map((s) => yesNo(s, S.scope[s] || s));
  const methodId = (m) => `method-${m}`;
  const pad = signaturePad();
  const methods = h('fieldset', { class: 'methods' }, h('legend', {}, S.method),
    Object.entries(S.methods).map(([m, text]) => h('div', { class: 'choice' },
      h('input', {
        type: 'radio', name: 'method', id: methodId(m), value: m, checked: m === 'verbal',
        onchange: () => { pad.box.hidden = m !== 'signed'; },
      }), h('label', { for: methodId(m) }, text))));
  const error = h('p', { class: 'error', role: 'alert' });
  const scanNote = h('p', { class: 'hint', id: 'scan-note', role: 'status' });
  const scanner = cardScanner((raw) => {
    label.value = normaliseLabel(raw);
    scanNote.textContent = labelProblem(label.value) || S.scanned(label.value);
    label.focus();
  }, scanNote, () => { label.value = ''; label.focus(); });

  const recordId = uuid();
  const submit = h('button', { type: 'submit', class: 'primary big' }, S.saveConsent);
  const onsubmit = oneSave(submit, async () => {
    error.textContent = '';
    const answers = scopeSets.map((fs) => {
      const picked = fs.querySelector('input:checked');
      return [fs.dataset.scope, picked ? picked.value : null];
    });
    const method = methods.querySelector('input:checked').value;
    let problem = null;
    const given = normaliseLabel(label.value);
    if (!given) problem = [S.needLabel, label];
    else if (labelProblem(given)) problem = [labelProblem(given), label];
    else if (answers.some(([, v]) => v === null)) problem = [S.answerAll, scopeSets[answers.findIndex(([, v]) => v === null)].querySelector('input')];
    else if (method === 'signed' && !pad.isDrawn()) problem = [S.needSignature, pad.canvas];
    if (problem) {
      error.textContent = problem[0];
      problem[1].focus();
      return;
    }
    const data = {
      conversation_id: convId,
      participant_label: given,
      consent_form_id: form.id,
      scopes: answers.filter(([, v]) => v === 'yes').map(([s]) => s),
      method,
      given_at: isoNow(),
    };
    if (method === 'signed') data.signature = pad.dataURL();
    const rec = await addConsent(data, recordId);
    go(`#/c/${convId}/capture/${rec.id}`);
  });

  return h('section', { class: 'screen' }, backLink(`#/c/${convId}`), h('h1', {}, S.consentTitle),
    h('form', { id: 'consent', onsubmit, novalidate: true },
      field(S.label, label, S.labelHint),
      h('p', { class: 'label-actions' }, scanner.button, ' ',
        h('button', { type: 'button', onclick: () => { label.value = suggestLabel(taken); label.focus(); } }, S.newLabel)),
      scanNote, scanner.box,
      h('article', { class: 'consent-form', 'aria-labelledby': 'cf-title' },
        h('h2', { id: 'cf-title' }, form.title), h('p', { class: 'hint' }, S.formVersion(form.version)),
        formBody(form.body)),
      h('h2', {}, S.scopesLegend), scopeSets, methods, pad.box, error, submit));
}
consentView.screen = 'consent';
