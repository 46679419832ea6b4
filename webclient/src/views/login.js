// Log in with email and password, or enrol this phone with a code from the coordinator.

import { S } from '../strings.js';
import { h, field } from '../dom.js';
import { A, login, enrol, go, managesAny } from '../app.js';

function explain(err, badText) {
  if (err.status === 0) return S.needsNetwork;
  if (err.status === 401 || err.status === 400 || err.status === 404 || err.status === 422) return badText;
  if (err.status === 429) return S.tooMany(err.retryAfter);
  return S.serverSaid(err.code, err.detail);
}

function form(id, title, intro, fields, button, submit, badText) {
  const error = h('p', { class: 'error', role: 'alert', id: `${id}-error` });
  const btn = h('button', { type: 'submit', class: 'primary' }, button);
  const el = h('form', {
    id, 'aria-labelledby': `${id}-title`, novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      btn.disabled = true;
      try {
        await submit();
        go(managesAny() ? '#/co' : '#/');
      } catch (err) {
        error.textContent = explain(err, badText);
      } finally {
        btn.disabled = false;
      }
    },
  }, h('h2', { id: `${id}-title` }, title), h('p', {}, intro), fields, error, btn);
  return el;
}

export async function loginView() {
  const email = h('input', {
    type: 'email', name: 'email', autocomplete: 'username', required: true, inputmode: 'email',
    value: (A.session && ((A.session.user && A.session.user.email) || A.session.lastEmail)) || '',
  });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const code = h('input', {
    type: 'text', name: 'code', autocomplete: 'one-time-code', autocapitalize: 'characters',
    spellcheck: 'false', required: true, value: A.enrolCode || '',
  });
  const loginForm = form('login', S.loginTitle, S.loginIntro,
    [field(S.email, email), field(S.password, password)], S.loginButton,
    () => login(email.value.trim(), password.value), S.badLogin);
  const enrolForm = form('enrol', S.enrolTitle, S.enrolIntro, [field(S.enrolCode, code)], S.enrolButton,
    () => enrol(code.value), S.badCode);
  const forms = A.enrolCode ? [enrolForm, loginForm] : [loginForm, enrolForm];
  const notice = A.lockedOut ? h('p', { class: 'notice warn', role: 'status', id: 'locked-out' }, S.lockedOut) : null;
  return h('section', { class: 'screen' }, h('h1', {}, S.appName), notice, forms);
}
loginView.screen = 'login';
