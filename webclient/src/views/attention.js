// Records the server refused, each with the server's reason, to fix and send again or discard.

import { S } from '../strings.js';
import { h, uid } from '../dom.js';
import { A, retry, discard, isMine } from '../app.js';
import { backLink, stateOf } from './common.js';

const UNSENDABLE = { consent_withdrawn: S.withdrawnUnsent, quote_not_consented: S.quoteNarrowedUnsent };

function describe(rec) {
  const d = rec.data;
  if (rec.type === 'consent') return d.participant_label;
  if (rec.erased) return S.state[stateOf(rec)];
  if (rec.type === 'fragment') return d.text.length > 100 ? `${d.text.slice(0, 100)}…` : d.text;
  return d.started_at;
}

export async function attentionView() {
  const recs = (await A.db.byState('attention')).filter(isMine);
  const body = [backLink(), h('h1', {}, S.attentionTitle), h('p', {}, S.attentionIntro)];
  if (!recs.length) body.push(h('p', {}, S.nothingNeedsAttention));
  body.push(h('ul', { class: 'list', id: 'attention' }, recs.map((rec) => {
    const err = rec.error || {};
    // Refused because the participant withdrew, or no longer agrees to be quoted: its words were erased, so it
    // can only be discarded.
    const final = UNSENDABLE[err.code];
    const kids = [
      h('span', { class: 'title' }, S.types[rec.type], ': ', describe(rec)),
      h('p', { class: 'reason' }, h('strong', {}, `${S.reason}: `), final || S.serverSaid(err.code, err.detail),
        err.code ? h('span', { class: 'code' }, ` (${err.code})`) : null),
    ];
    let edit = null;
    let kind = null;
    if (rec.type === 'fragment' && !final) {
      const id = uid('fix');
      const kid = uid('kind');
      edit = h('textarea', { id, rows: '3', maxlength: '5000', value: rec.data.text });
      kind = h('select', { id: kid, name: 'kind' }, Object.entries(S.kinds).map(([k, text]) =>
        h('option', { value: k, selected: k === rec.data.kind }, text)));
      kids.push(h('label', { for: kid }, S.kind), kind, h('label', { for: id }, S.text), edit);
    }
    kids.push(h('div', { class: 'actions' },
      final ? null : h('button', {
        type: 'button', class: 'primary', 'data-action': 'retry',
        onclick: () => retry(rec.id, edit && edit.value.trim() ? { ...rec.data, kind: kind.value, text: edit.value.trim() } : undefined),
      }, edit ? S.fixAndRetry : S.retry),
      h('button', {
        type: 'button', class: 'danger', 'data-action': 'discard',
        // The item goes with its buttons: focus goes to the screen's heading, not lost to the page.
        onclick: () => { if (confirm(S.confirmDiscard)) discard(rec.id).then(() => { const h1 = document.querySelector('#main h1'); if (h1) h1.focus(); }); },
      }, S.discard)));
    return h('li', { class: 'item', 'data-id': rec.id, 'data-code': err.code || '' }, kids);
  })));
  return h('section', { class: 'screen' }, body);
}
attentionView.screen = 'attention';
attentionView.live = true;
