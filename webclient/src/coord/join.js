// A participant's phone (join.html; it lives with the workspace's files so researchers' phones never fetch it): type (or scan) the workshop's code, get a join token that opens this board alone, then
// see the cards, move them and add notes. No account; the token lives in this tab's sessionStorage only.

import { h, field } from '../dom.js';
import { createBoard } from './board.js';
import { C } from './strings.js';

const J = C.join;
const BOARD = C.join.board;

const main = document.getElementById('join');
const KEY = 'hearken-join';

function showBoard(token, title, question) {
  const board = createBoard({ base: '/api/v1/board', token, guest: true, strings: BOARD, onEnd: () => {
    sessionStorage.removeItem(KEY);
  } });
  main.replaceChildren(h('h1', {}, title), question ? h('p', { class: 'board-question' }, question) : null,
    h('p', { class: 'hint' }, J.howTo), board.root);
  window.__board = board;
  // Only a refused token ends the visit: a failed load (no signal, a server restarting) tries again, keeping the
  // token and what this phone has not sent yet.
  board.start().catch((err) => {
    if (err && (err.status === 401 || err.status === 404)) {
      sessionStorage.removeItem(KEY);
      showForm(J.closed);
      return;
    }
    setTimeout(() => showBoard(token, title, question), 3000);
  });
}

function showForm(message = '') {
  const code = h('input', { name: 'code', id: 'join-code', autocomplete: 'off', autocapitalize: 'characters', maxlength: 12, required: true,
    value: decodeURIComponent(location.hash.slice(1)) });
  const name = h('input', { name: 'name', id: 'join-name', maxlength: 60 });
  const status = h('p', { class: 'status', role: 'alert' }, message);
  const form = h('form', { id: 'join-form', onsubmit: async (e) => {
    e.preventDefault();
    const res = await fetch('/api/v1/join', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code: code.value.trim(), name: name.value.trim() }) }).catch(() => null);
    if (!res || !res.ok) { status.textContent = !res ? J.offline : res.status === 409 ? J.full : J.noBoard; return; }
    const r = await res.json();
    sessionStorage.setItem(KEY, JSON.stringify({ token: r.token, title: r.workshop.title, question: r.workshop.question }));
    showBoard(r.token, r.workshop.title, r.workshop.question);
  } }, field(J.code, code), field(J.name, name, J.nameHint), h('button', { type: 'submit', class: 'primary' }, J.join), status);
  main.replaceChildren(h('h1', {}, J.title), h('p', {}, J.intro), form);
}

const saved = JSON.parse(sessionStorage.getItem(KEY) || 'null');
if (saved) showBoard(saved.token, saved.title, saved.question);
else showForm();
