// Researchers: the project's members with their role and training; one member's page (#/co/<p>/people/<user>)
// records training, enrols a phone by a one-time code (text and QR code) and lists and revokes their phones.

import { A, go } from '../app.js';
import { h, field, fmtDateTime } from '../dom.js';
import { C } from './strings.js';
import { api, saveForm, problem, table, fmtDate } from './ui.js';

const T = C.ppl;
const who = (m) => m.display_name || m.email || T.unknown;
const day = (d) => d.toISOString().slice(0, 10);
const refuse = (detail) => Object.assign(new Error(detail), { status: 422, detail });
// Only an admin changes or removes another coordinator (the server refuses it too).
const mayChange = (m) => A.me.user.is_admin || m.role !== 'coordinator' || m.user_id === A.me.user.id;
// Nor removes themself as coordinator (a project must keep one; an admin can).
const mayRemove = (m) => mayChange(m) && (A.me.user.is_admin || m.role !== 'coordinator' || m.user_id !== A.me.user.id);
const roleSelect = (value) => h('select', { name: 'role' },
  ['researcher', 'coordinator'].map((r) => h('option', { value: r, selected: r === value }, C.roles[r])));

// "Current — expires …" or, in words as well as red, "Expired on …" / "No training recorded".
function trainingState(m, records) {
  if (m.training_current) return h('span', { class: 'ok' }, T.current(fmtDate(m.training_expires_on)));
  const last = (records || []).reduce((a, r) => (!a || r.expires_on > a ? r.expires_on : a), null);
  const words = last ? T.expired(fmtDate(last)) : T.none;
  // Only researchers need current training to capture.
  return m.role === 'researcher' ? h('span', { class: 'bad' }, words, T.stops) : h('span', { class: 'hint' }, words);
}

export async function page(ctx) {
  const base = `/projects/${ctx.project.id}`;
  let members; let devices; let users;
  try {
    [members, devices, users] = await Promise.all([api('GET', `${base}/members`), api('GET', `${base}/devices`),
      api('GET', '/users')]);
  } catch (err) {
    return h('div', {}, h('h1', {}, T.title), problem(err));
  }
  if (ctx.path[0]) {
    const m = members.find((x) => x.user_id === ctx.path[0]);
    if (m) return member(ctx, base, m, devices, users);
  }
  const training = Object.fromEntries(await Promise.all(members.filter((m) => !m.training_current).map(async (m) =>
    [m.user_id, await api('GET', `${base}/members/${m.user_id}/training`).catch(() => [])])));
  const live = (uid) => devices.filter((d) => d.user_id === uid && !d.revoked_at);
  const status = h('p', { class: 'status', 'aria-live': 'polite' });
  const rows = table([
    [T.person, (m) => [h('a', { href: ctx.href('people', m.user_id) }, who(m)), h('br'), h('span', { class: 'hint' }, m.email)]],
    [T.role, (m) => {
      if (!mayChange(m)) return [C.roles[m.role], h('br'), h('span', { class: 'hint' }, T.adminChanges)];
      const sel = roleSelect(m.role);
      sel.setAttribute('aria-label', T.roleOf(who(m)));
      return saveForm({ class: 'co-row' }, sel, () => api('PUT', `${base}/members/${m.user_id}`, { role: sel.value }),
        { cls: 'small', label: T.change });
    }],
    [T.training, (m) => trainingState(m, training[m.user_id])],
    [T.phones, (m) => {
      const mine = live(m.user_id);
      const last = mine.map((d) => d.last_sync_at).filter(Boolean).sort().pop();
      // The person's own last sync (any phone or login) when no enrolled phone has a later one.
      const any = [last, m.last_sync_at].filter(Boolean).sort().pop();
      return mine.length ? T.phonesN(mine.length, any ? fmtDateTime(any) : T.never)
        : [T.noPhones, any ? ` · ${T.lastSync}: ${fmtDateTime(any)}` : ''];
    }],
    [C.actions, (m) => (!mayRemove(m) ? '' : h('button', { type: 'button', class: 'small danger', onclick: async (e) => {
      if (!window.confirm(T.confirmRemove(who(m)))) return;
      try {
        await api('DELETE', `${base}/members/${m.user_id}`);
        e.target.closest('tr').remove();
        status.textContent = T.removed(who(m));
      } catch (err) { status.replaceChildren(problem(err)); }
    } }, T.remove))],
  ], members, { id: 'members', rowProps: (m) => ({ 'data-user': m.user_id }) });
  return h('div', { id: 'people' }, h('h1', {}, T.title), status, rows, addMember(ctx, base, members, users));
}

function addMember(ctx, base, members, users) {
  const inProject = new Set(members.map((m) => m.user_id));
  const email = h('input', { type: 'email', name: 'email', required: true, list: 'known-users', autocomplete: 'off' });
  const role = roleSelect('researcher');
  const name = h('input', { type: 'text', name: 'display_name', maxlength: 120 });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minlength: 10 });
  return h('section', {}, h('h2', {}, T.addTitle),
    h('datalist', { id: 'known-users' }, users.filter((u) => !inProject.has(u.id)).map((u) => h('option', { value: u.email }, u.display_name))),
    saveForm({ id: 'add-member' }, [h('div', { class: 'co-cols' }, field(T.email, email, T.emailHint), field(T.role, role)),
      h('fieldset', {}, h('legend', {}, T.newAccount), h('p', { class: 'hint' }, T.newAccountHint),
        h('div', { class: 'co-cols' }, field(T.name, name), field(T.password, password)))], async () => {
      const address = email.value.trim().toLowerCase();
      if (!address) throw refuse(T.emailNeeded);
      let user = users.find((u) => u.email === address);
      if (!user) {
        if (!password.value) throw refuse(T.noAccount);
        user = await api('POST', '/users', { email: address, display_name: name.value.trim(), password: password.value });
        users.push(user);
      }
      await api('PUT', `${base}/members/${user.id}`, { role: role.value });
      return user;
    }, { label: T.add, leaves: true, done: (user) => go(ctx.href('people', user.id)) }));
}

async function member(ctx, base, m, devices, users) {
  const records = await api('GET', `${base}/members/${m.user_id}/training`).catch(() => []);
  const byId = Object.fromEntries(users.map((u) => [u.id, u.display_name || u.email]));
  const mine = () => devices.filter((d) => d.user_id === m.user_id);
  const phones = h('div', { id: 'devices' });
  const drawPhones = () => phones.replaceChildren(mine().length ? table([
    [T.phone, (d) => (d.kind === 'session' ? T.passwordLogin : [d.device_label || T.unnamedPhone,
      d.project_id ? '' : [h('br'), h('span', { class: 'hint' }, T.enrolledElsewhere)]])],
    [T.enrolled, (d) => fmtDateTime(d.created_at)],
    [T.lastSync, (d) => (d.last_sync_at ? fmtDateTime(d.last_sync_at) : T.never)],
    [T.state, (d) => (d.revoked_at ? h('span', { class: 'bad' }, T.revokedOn(fmtDate(d.revoked_at))) : T.active)],
    [C.actions, (d) => (d.revoked_at || d.kind === 'session' ? '' : h('button', { type: 'button', class: 'small danger', onclick: async () => {
      if (!window.confirm(T.confirmRevoke(d.device_label || T.unnamedPhone, who(m)))) return;
      try {
        await api('DELETE', `/devices/${d.id}`);
        d.revoked_at = new Date().toISOString();
        drawPhones();
      } catch (err) { phones.append(problem(err)); }
    } }, T.revoke))],
  ], mine(), { id: 'device-table' }) : h('p', {}, T.noPhones));
  drawPhones();

  const history = h('div', {});
  const drawHistory = () => history.replaceChildren(records.length ? table([
    [T.completed, (r) => fmtDate(r.completed_on)],
    [T.expires, (r) => fmtDate(r.expires_on)],
    [T.recordedBy, (r) => byId[r.recorded_by] || T.unknown],
  ], records, { id: 'training-table' }) : h('p', {}, T.none));
  drawHistory();
  const done = h('input', { type: 'date', name: 'completed_on', required: true, value: day(new Date()) });
  const until = h('input', { type: 'date', name: 'expires_on', required: true, value: day(new Date(Date.now() + 365 * 864e5)) });
  const train = saveForm({ id: 'record-training' }, h('div', { class: 'co-cols' }, field(T.completed, done), field(T.expires, until)), () => {
    if (!done.value || !until.value || until.value <= done.value) throw refuse(T.badDates);
    return api('POST', `${base}/members/${m.user_id}/training`, { completed_on: done.value, expires_on: until.value });
  }, { label: T.record, done: (r) => {
    records.unshift(r);
    if (r.completed_on <= day(new Date()) && r.expires_on > day(new Date())) Object.assign(m, { training_current: true, training_expires_on: r.expires_on });
    drawHistory();
    state.replaceChildren(trainingState(m, records));
  } });
  const state = h('p', { id: 'training-state' }, trainingState(m, records));

  const enrolBox = h('div', { id: 'enrol' });
  const enrolButton = h('button', { type: 'button', class: 'primary', id: 'make-code', onclick: async () => {
    enrolButton.disabled = true;
    try {
      enrolBox.replaceChildren(codePanel(await api('POST', `${base}/enrolment-codes`, { user_id: m.user_id }), async () => {
        const now = await api('GET', `${base}/devices`);
        if (now.length !== devices.length) {
          devices = now;
          drawPhones();
          return true;
        }
        return false;
      }));
    } catch (err) {
      enrolBox.replaceChildren(problem(err));
    } finally { enrolButton.disabled = false; }
  } }, T.makeCode);

  return h('div', { id: 'member', 'data-user': m.user_id },
    h('p', {}, h('a', { href: ctx.href('people') }, T.back)),
    h('h1', {}, who(m)), h('p', {}, m.email, ' — ', C.roles[m.role]),
    h('div', { class: 'co-cols' },
      h('section', {}, h('h2', {}, T.training), state, history, h('h3', {}, T.recordTitle), train),
      h('section', {}, h('h2', {}, T.enrolTitle), h('p', {}, T.enrolIntro), enrolButton, enrolBox)),
    h('section', {}, h('h2', {}, T.phonesTitle), phones));
}

// The code as big text and as a QR code of the enrol link, counting down to its expiry; while it lasts the
// phones list is checked every few seconds so the coordinator sees the phone arrive.
function codePanel(res, poll) {
  const link = res.enrol_link || new URL(res.enrol_url, location.href).href;
  const qr = res.qr_svg ? h('img', { class: 'co-qr', alt: T.qrAlt, width: 220, height: 220,
    src: URL.createObjectURL(new Blob([res.qr_svg], { type: 'image/svg+xml' })) }) : null;
  const left = h('p', { id: 'code-left' });
  const news = h('p', { class: 'status saved', 'aria-live': 'polite' });
  const panel = h('div', { class: 'co-code' },
    h('p', {}, T.codeIs), h('p', { class: 'co-bigcode', id: 'enrol-code' }, res.code),
    qr, h('p', {}, T.orLink, ' ', h('a', { href: link, id: 'enrol-link' }, link)), left, news);
  const end = new Date(res.expires_at).getTime();
  let ticks = 0;
  const tick = async () => {
    if (!panel.isConnected && ticks > 0) return;
    const ms = end - Date.now();
    if (ms <= 0) {
      left.textContent = T.codeExpired;
      left.className = 'bad';
      if (qr) { qr.remove(); URL.revokeObjectURL(qr.src); }
      panel.querySelector('#enrol-code').classList.add('gone');
      return;
    }
    const s = Math.ceil(ms / 1000);
    left.textContent = T.expiresIn(Math.floor(s / 60), String(s % 60).padStart(2, '0'));
    if (ticks++ % 3 === 2) {
      try { if (await poll()) news.textContent = T.phoneArrived; } catch { /* the next poll tries again */ }
    }
    setTimeout(tick, 1000);
  };
  tick();
  return panel;
}
