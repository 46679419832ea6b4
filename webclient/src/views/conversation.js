// Starting a conversation, and one conversation's participants and fragments.

import { S } from '../strings.js';
import { h, field, fmtDateTime, isoNow, objectURL, uid } from '../dom.js';
import { scopesNow, uuid } from '../db.js';
import { A, KEEP_DAYS, addConversation, clipBlob, go, isMine, retryClip } from '../app.js';
import { badge, backLink, labelOf, findById, oneSave } from './common.js';
import { mmss } from './recorder.js';

export async function newConversationView() {
  const kit = A.kit;
  if (!kit || !kit.can_capture) { go('#/'); return h('section'); }
  const places = (kit.places || []).filter((p) => p.active !== false);
  const prompts = (kit.prompts || []).filter((p) => p.active !== false).sort((a, b) => a.position - b.position);
  const place = h('select', { name: 'place' }, h('option', { value: '' }, S.noPlace),
    places.map((p) => h('option', { value: p.id }, p.name)));
  const boxes = prompts.map((p) => {
    const id = uid('prompt');
    return h('div', { class: 'check' }, h('input', { type: 'checkbox', id, value: p.id, name: 'prompt' }),
      h('label', { for: id }, p.text));
  });
  const note = h('textarea', { name: 'note', rows: '2', maxlength: '2000' });
  const recordId = uuid();
  const submit = h('button', { type: 'submit', class: 'primary big' }, S.start);
  return h('section', { class: 'screen' }, backLink(), h('h1', {}, S.newConversation),
    h('form', {
      id: 'new-conversation',
      onsubmit: oneSave(submit, async () => {
        const data = {
          project_id: A.projectId,
          prompt_ids: boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value),
          started_at: isoNow(),
        };
        if (place.value) data.place_id = place.value;
        if (note.value.trim()) data.note = note.value.trim();
        const rec = await addConversation(data, recordId);
        go(`#/c/${rec.id}`);
      }),
    },
    field(S.place, place),
    prompts.length ? h('fieldset', {}, h('legend', {}, S.prompts), boxes) : null,
    field(S.note, note, S.noteHint),
    submit));
}
newConversationView.screen = 'new-conversation';

export async function conversationView(convId) {
  const recs = await A.db.recordsOfConversation(convId);
  const conv = recs.find((r) => r.id === convId);
  if (!isMine(conv)) { go('#/'); return h('section'); }
  const consents = recs.filter((r) => r.type === 'consent');
  const frags = recs.filter((r) => r.type === 'fragment');
  const ids = new Set(frags.map((f) => f.id));
  const clips = new Map((await A.db.allClips()).filter((c) => ids.has(c.id)).map((c) => [c.id, c]));
  const kit = A.kit;
  const place = kit && findById(kit.places, conv.data.place_id);
  const body = [backLink(), h('h1', {}, S.conversationTitle),
    h('p', {}, place ? `${place.name} · ` : '', S.startedAt(fmtDateTime(conv.data.started_at)), ' ', badge(conv))];

  if (!kit || !kit.consent_form) body.push(h('p', { class: 'notice warn' }, S.noConsentForm));
  else body.push(h('a', { href: `#/c/${convId}/consent`, class: 'button primary big', id: 'add-participant' }, S.addParticipant));

  if (!consents.length) body.push(h('p', {}, S.noParticipants));
  else {
    body.push(h('h2', {}, S.participants(consents.length)));
    body.push(h('ul', { class: 'list', id: 'participants' }, consents.map((c) => {
      const n = frags.filter((f) => f.data.consent_id === c.id).length;
      if (c.erased) {
        return h('li', { class: 'item' }, h('span', { class: 'title' }, c.data.participant_label), badge(c),
          h('p', { class: 'meta' }, S.withdrawnParticipant(c.data.participant_label)));
      }
      return h('li', { class: 'item' },
        h('span', { class: 'title' }, c.data.participant_label),
        h('span', { class: 'meta' }, S.scopesShort(scopesNow(c)), ` · ${S.fragments(n)}`),
        badge(c),
        h('a', { href: `#/c/${convId}/capture/${c.id}`, class: 'button', 'data-capture': c.data.participant_label },
          S.capture));
    })));
  }
  if (frags.length) {
    body.push(h('h2', {}, S.fragments(frags.length)));
    body.push(h('ul', { class: 'list', id: 'fragments' }, frags.slice().reverse().map((f) => (f.erased
      ? h('li', { class: 'item', 'data-id': f.id },
        h('span', { class: 'title' }, labelOf(consents, f.data.consent_id)), badge(f))
      : h('li', { class: 'item', 'data-id': f.id },
        h('span', { class: 'title' }, `${labelOf(consents, f.data.consent_id)} · ${S.kinds[f.data.kind] || f.data.kind}`),
        h('span', { class: 'meta text' }, f.data.text.length > 140 ? `${f.data.text.slice(0, 140)}…` : f.data.text),
        f.stub ? h('span', { class: 'meta' }, f.stub_days === null ? S.stubLockedOut : S.stubNote(f.stub_days || KEEP_DAYS)) : null,
        badge(f), clips.has(f.id) ? clipLine(clips.get(f.id)) : null)))));
  }
  return h('section', { class: 'screen' }, body);
}
conversationView.screen = 'conversation';

// A fragment's clip: where it is (with the server's reason when it refused it), and a player.
function clipLine(clip) {
  const up = A.outbox && A.outbox.state.uploading;
  const s = up && up.id === clip.id ? 'uploading' : clip.state;
  const words = s === 'uploading' ? S.clipState.uploading(Math.floor((100 * up.offset) / (clip.size || 1))) : S.clipState[s];
  const out = h('div', { class: 'clip' });
  const play = async () => {
    try {
      const audio = h('audio', { controls: true, src: objectURL(await clipBlob(clip.id)), 'aria-label': S.listenClip });
      out.querySelector('[data-action=play]').replaceWith(audio);
      audio.focus(); // the button that had focus is gone
      audio.play().catch(() => {});
    } catch {
      out.querySelector('[data-action=play]').textContent = S.clipUnavailable;
    }
  };
  out.append(h('span', { class: `badge ${s === 'done' ? 'synced' : s}`, 'data-clip-state': s }, words),
    clip.duration_ms > 0 ? h('span', { class: 'meta', 'data-clip-length': '' }, ` ${mmss(clip.duration_ms / 1000)}`) : null,
    clip.error ? h('span', { class: 'meta', 'data-clip-reason': '' }, S.serverSaid(clip.error.code, clip.error.detail)) : null,
    clip.blob || s === 'done' ? h('button', { type: 'button', class: 'small', 'data-action': 'play', onclick: play }, S.playClip) : null,
    s === 'attention' ? h('button', { type: 'button', class: 'small', 'data-action': 'retry-clip', onclick: () => retryClip(clip.id) }, S.retryClip) : null);
  return out;
}
conversationView.live = true;
