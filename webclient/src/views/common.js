// Pieces shared by several screens.

import { S } from '../strings.js';
import { h } from '../dom.js';
import { A } from '../app.js';

export function stateOf(rec) {
  if (rec.erased) return rec.erased === 'narrowed' ? 'narrowed' : 'withdrawn';
  return A.outbox && A.outbox.state.sending.has(rec.id) ? 'sending' : rec.state;
}

// The state in words (colour and icon only repeat it).
export function badge(rec) {
  const s = stateOf(rec);
  return h('span', { class: `badge ${s}`, 'data-state': s }, S.state[s]);
}

// The worst state among a group of records decides the group's badge.
export function groupBadge(recs) {
  const order = ['attention', 'local', 'sending', 'synced', 'narrowed', 'withdrawn'];
  const states = recs.map(stateOf);
  const s = order.find((x) => states.includes(x)) || 'synced';
  return h('span', { class: `badge ${s}`, 'data-state': s }, S.state[s]);
}

export function backLink(href = '#/') {
  return h('a', { href, class: 'back' }, `‹ ${S.back}`);
}

export function labelOf(consents, id) {
  const c = consents.find((r) => r.id === id);
  return c ? c.data.participant_label : '?';
}

export function findById(list, id) {
  return (list || []).find((x) => x.id === id);
}

// A form's save: one at a time. While it runs the button is locked and a second submit (a double tap, two clicks
// in one task) does nothing; together with the record id chosen when the form opened, one intention is one record.
export function oneSave(button, save) {
  let busy = false;
  return async (e) => {
    if (e) e.preventDefault();
    if (busy) return;
    busy = true;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await save(e);
    } finally {
      busy = false;
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  };
}
