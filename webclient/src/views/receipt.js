// The participant's receipt, to hand over or photograph: the project, their label (which is also the code to quote
// when they want their words taken out), what they agreed to, and whom to contact to withdraw.

import { S } from '../strings.js';
import { h, fmtDateTime } from '../dom.js';
import { A, go, isMine } from '../app.js';
import { scopesNow } from '../db.js';
import { backLink } from './common.js';

export async function receiptView(convId, consentId) {
  const consent = await A.db.getRecord(consentId);
  if (!isMine(consent) || consent.type !== 'consent' || consent.erased) { go(`#/c/${convId}`); return h('section'); }
  const d = consent.data;
  const project = (A.kit && A.kit.project) || {};
  const agreed = scopesNow(consent);
  return h('section', { class: 'screen receipt', id: 'receipt' }, backLink(`#/c/${convId}`),
    h('h1', {}, S.receiptTitle),
    h('p', { class: 'project' }, project.name || ''),
    h('p', {}, S.receiptCodeIntro), h('p', { class: 'code', id: 'receipt-code' }, d.participant_label),
    h('h2', {}, S.receiptAgreed),
    h('ul', { id: 'receipt-scopes' }, agreed.length ? agreed.map((s) => h('li', {}, S.scope[s] || s)) : h('li', {}, S.receiptNone)),
    h('p', { class: 'hint' }, S.receiptGiven(fmtDateTime(d.given_at), S.methods[d.method] || d.method)),
    h('h2', {}, S.receiptWithdrawTitle),
    h('p', { id: 'receipt-contact' }, project.withdrawal_contact
      ? S.receiptWithdraw(project.withdrawal_contact, d.participant_label) : S.receiptWithdrawNoContact(d.participant_label)),
    h('a', { href: `#/c/${convId}/capture/${consentId}`, class: 'button primary big', id: 'receipt-done' }, S.receiptDone));
}
receiptView.screen = 'receipt';
