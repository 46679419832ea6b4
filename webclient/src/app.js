// Glue: state, actions and the router. Screens in ./views render from `A` and call the actions here.

import { openDB, uuid } from './db.js';
import { createApi } from './api.js';
import { createOutbox } from './outbox.js';
import { createUploader } from './upload.js';
import { S } from './strings.js';
import { forgetObjectURLs, h, fmtTime } from './dom.js';
import { homeView } from './views/home.js';

export const VERSION = '2026.11.30-35';

export const A = {
  db: null, api: null, outbox: null,
  deviceId: '', session: null, me: null, projectId: '', kit: null,
  online: null, persisted: null, estimate: null,
  counts: { local: 0, synced: 0, attention: 0 },
  clipCounts: { local: 0, done: 0, attention: 0, bytes: 0 },
  waitingWorker: null, enrolCode: '', message: '',
  kitRefreshMs: 60 * 1000,
};
// How long the phone keeps the words of records the server already holds (a lost phone holds no more), when no
// project of this phone says otherwise; each project sets its own (`phone_keep_days` in its capture kit).
export const KEEP_DAYS = 14;

// Home, the screen a researcher opens the app for, comes with the page; the other screens load when first
// shown (and are fetched in the background once the app is up). The service worker holds them all.
const LOGIN = () => import('./views/login.js').then((m) => m.loginView);
// The coordinator's workspace: #/co/<project id>/<page>[/<rest>]. Only coordinators' browsers fetch it ahead.
const WORKSPACE_ROUTE = /^#\/co(?:\/([\w-]+))?(?:\/([\w-]+))?(?:\/(.*))?$/;
const ROUTES = [
  [/^#\/login$/, LOGIN],
  [/^#\/new$/, () => import('./views/conversation.js').then((m) => m.newConversationView)],
  [/^#\/c\/([\w-]+)$/, () => import('./views/conversation.js').then((m) => m.conversationView)],
  [/^#\/c\/([\w-]+)\/consent$/, () => import('./views/consent.js').then((m) => m.consentView)],
  [/^#\/c\/([\w-]+)\/capture(?:\/([\w-]+))?$/, () => import('./views/fragment.js').then((m) => m.fragmentView)],
  [/^#\/c\/([\w-]+)\/receipt\/([\w-]+)$/, () => import('./views/receipt.js').then((m) => m.receiptView)],
  [/^#\/attention$/, () => import('./views/attention.js').then((m) => m.attentionView)],
  [/^#\/phone$/, () => import('./views/phone.js').then((m) => m.phoneView)],
  [WORKSPACE_ROUTE, () => import('./coord/shell.js').then((m) => m.coordView)],
  [/^/, async () => homeView],
];

export const owner = () => (A.session && A.session.user ? A.session.user.id : '');
export const loggedIn = () => Boolean(A.session && A.session.token);
// On a shared phone each researcher sees only what they made (records from before owners were kept: anyone).
export const isMine = (rec) => Boolean(rec) && (!rec.owner || rec.owner === owner());
// Coordinators (and admins) have a workspace at #/co besides capture.
export const managesAny = () => Boolean(A.me && (A.me.user.is_admin
  || (A.me.memberships || []).some((m) => m.role === 'coordinator')));
export const authNeeded = () => Boolean(A.outbox && A.outbox.state.authNeeded);

export function go(hash) {
  if (location.hash === hash) render(true);
  else location.hash = hash;
}

export function announce(text) {
  const live = document.getElementById('live');
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 50);
}

// ---- session ------------------------------------------------------------------------------------

async function signedIn(auth) {
  A.lockedOut = false;
  if (A.me && A.me.user && A.me.user.id !== auth.user.id) await forgetWhoWasHere();
  A.session = { token: auth.token, kind: auth.kind, expires_at: auth.expires_at, user: auth.user };
  await A.db.setKV('session', A.session);
  A.removedFrom = (await A.db.getKV(`removed_from:${auth.user.id}`)) || '';
  forgetDrafts(owner()); // someone else's unsaved edits (words of fragments) are not for this person
  await refreshRemote(4);
  A.outbox.resume();
  followErasures();
  requestPersistence();
}

export async function login(email, password) {
  await signedIn(await A.api.login(email, password));
}

export async function enrol(code) {
  const label = `Hearken web app${navigator.platform ? ` (${navigator.platform})` : ''}`.slice(0, 60);
  await signedIn(await A.api.enrol(code.trim(), label));
  A.enrolCode = '';
}

// What this researcher has not yet sent, by kind: records (including refused ones) and clips.
export async function unsentOfMine() {
  const me = owner();
  const out = { fragment: 0, consent: 0, conversation: 0, clip: 0, total: 0 };
  for (const r of await A.db.allRecords()) {
    if (r.owner && r.owner !== me) continue;
    if (r.state === 'local' || r.state === 'attention') out[r.type] += 1;
  }
  const clips = await A.db.clipCounts(me || undefined);
  out.clip = clips.local + clips.attention;
  out.total = out.fragment + out.consent + out.conversation + out.clip;
  return out;
}

// `erase`: the researcher typed the confirmation: their records leave this phone now, sent or not.
export async function logout({ erase = false } = {}) {
  // The last look for withdrawals while the token still works: once logged out this phone cannot ask, and
  // only the keep-days trim reaches the records until this researcher logs in again.
  if (loggedIn() && A.online !== false) await Promise.race([followErasures(), new Promise((r) => setTimeout(r, 5000))]);
  if (erase && owner()) await A.db.eraseOwner(owner());
  forgetDrafts();
  if (loggedIn()) {
    try { await A.api.logout(); } catch { /* the token ends on the server when it expires anyway */ }
  }
  // After a deliberate logout nobody captures under this researcher's name; their unsent records stay
  // on the phone (they still carry their owner) and go when that researcher logs in again.
  // Nor does the next person learn whose phone it was: no email to fill in, no projects, no capture kit.
  A.session = { token: null, user: null, lastEmail: '' };
  await A.db.setKV('session', A.session);
  await forgetWhoWasHere();
  A.outbox.state.lastError = null;
  await countRecords();
  go('#/login');
}

// A coordinator's unsaved edits (in localStorage, by user: `hearken-draft:<user>:…`) hold fragments' words: a
// deliberate logout forgets them all, a login everyone else's.
export const draftKey = (key) => `hearken-draft:${owner()}:${key}`;
function forgetDrafts(keepUser = null) {
  for (const k of Object.keys(localStorage)) {
    if (k.startsWith('hearken-draft:') && !(keepUser && k.startsWith(`hearken-draft:${keepUser}:`))) localStorage.removeItem(k);
  }
}

// Who was logged in, their projects and capture kits: kept for working offline, forgotten when they log out or
// someone else logs in. (Their records stay, with their owner, until they log in again.)
async function forgetWhoWasHere() {
  A.me = null;
  A.kit = null;
  A.projectId = '';
  A.removedFrom = '';
  await A.db.delKV('me');
  await A.db.delKV('project_id');
  await A.db.forgetKV('kit:');
}

// A login the server ended for good — this phone's token revoked (it was lost), the account disabled — locks the
// phone: the words the server holds leave it now (a lost phone could not learn of a withdrawal any more), and
// nothing shows until someone logs in. Unsent records stay, with their owner, and go when that researcher logs
// in again: deleting them would lose them for ever. Any other ended login (expired) only asks to log in again.
const ENDED_FOR_GOOD = ['token_revoked', 'account_disabled'];
async function sessionEnded(err) {
  if (err && ENDED_FOR_GOOD.includes(err.code) && owner()) {
    await A.db.trimSynced({}, 0, Date.now(), owner());
    forgetDrafts();
    A.session = { token: null, user: null, lastEmail: '' };
    await A.db.setKV('session', A.session);
    await forgetWhoWasHere();
    A.lockedOut = true;
    A.outbox.state.lastError = null;
    await countRecords();
    go('#/login');
    return;
  }
  A.outbox.state.authNeeded = true;
  changed();
}

// Fetches who we are and the capture kit of the chosen project, and keeps both for offline use.
// `fresh` > 0 right after a login: if the server refuses the brand-new token for a moment (it once
// answered before committing), that must not look like a login that ended.
export async function refreshRemote(fresh = 0) {
  if (!loggedIn()) return;
  // Screens re-render only if something came back different: a re-render under a finger can swallow a tap.
  const before = JSON.stringify([A.me, A.kit, A.refreshError]);
  try {
    const had = A.me;
    A.me = await A.api.me();
    await A.db.setKV('me', A.me);
    const ids = (A.me.memberships || []).map((m) => m.project_id);
    // Removed from a project this phone knew for this researcher (the one it captures for or another):
    // say so, rather than let it quietly vanish from the list.
    // Only for the same person: on a shared phone the last one's projects are not the next one's business.
    const same = Boolean(had && had.user && had.user.id === A.me.user.id);
    const gone = same ? (had.memberships || []).filter((m) => !ids.includes(m.project_id)).map((m) => m.project_name) : [];
    if (same && A.projectId && !ids.includes(A.projectId) && A.kit && A.kit.project && !gone.includes(A.kit.project.name)) {
      gone.push(A.kit.project.name);
    }
    if (gone.length) {
      A.removedFrom = gone.join('”, “');
      await A.db.setKV(`removed_from:${A.me.user.id}`, A.removedFrom);
    }
    if (!ids.includes(A.projectId)) await selectProject(ids[0] || '', false);
    if (A.projectId) {
      A.kit = await A.api.captureKit(A.projectId);
      await A.db.setKV(`kit:${A.projectId}`, A.kit);
      // Kept apart from the kit (a logout forgets kits): the trim must still know it on a phone left logged out.
      const keep = (await A.db.getKV('keep_days')) || {};
      if (keep[A.projectId] !== A.kit.project.phone_keep_days) {
        await A.db.setKV('keep_days', { ...keep, [A.projectId]: A.kit.project.phone_keep_days });
      }
    }
    A.refreshError = null;
    refreshTries = 0;
  } catch (err) {
    A.refreshError = { status: err.status, code: err.code, detail: err.detail };
    if (err.status === 401 && fresh > 0) {
      await new Promise((r) => setTimeout(r, 300));
      return refreshRemote(fresh - 1);
    }
    if (err.status === 401) await sessionEnded(err);
    // Without a capture kit the phone cannot capture at all: keep trying while the app is open.
    else if (!A.kit) setTimeout(refreshRemote, Math.min(60000, 2000 * 2 ** refreshTries++));
  }
  if (JSON.stringify([A.me, A.kit, A.refreshError]) !== before) changed();
}
let refreshTries = 0;

// A sync that reached the server also brings the capture kit up to date (a new consent form version, prompts,
// training), at most once a minute, so a phone left open all day does not capture under an old form.
let kitSyncAt = null;
let kitAt = 0;
function kitFollowsSync() {
  const at = A.outbox.state.lastSyncAt;
  if (!at || at === kitSyncAt || Date.now() - kitAt < A.kitRefreshMs) return;
  kitSyncAt = at;
  kitAt = Date.now();
  refreshRemote();
}

let erasedSyncAt = null;
function erasuresFollowSync() {
  const at = A.outbox.state.lastSyncAt;
  if (!at || at === erasedSyncAt) return;
  erasedSyncAt = at;
  followErasures();
}

export async function selectProject(pid, fetchKit = true) {
  A.projectId = pid;
  await A.db.setKV('project_id', pid);
  A.kit = pid ? (await A.db.getKV(`kit:${pid}`)) || null : null;
  if (fetchKit && pid && loggedIn()) await refreshRemote();
  changed();
}

// ---- what happened to this researcher's records since we last looked ---------------------------------

// Asks the server which of this researcher's records were erased (a withdrawal, retention) or narrowed since the
// cursor, erases them here (and what a narrowing took back), and confirms; then trims what has been kept long
// enough. Runs at start, after each sync and every minute while the app is open. The trim needs no login and no
// network: a phone left logged out, offline or with an ended login still lets words go when their project says.
let erasing = null;
export function followErasures() {
  if (!erasing) erasing = checkErasures().catch(() => {}).finally(() => { erasing = null; });
  return erasing;
}
async function checkErasures() {
  try {
    if (loggedIn() && owner() && A.online !== false) await eraseWhatTheServerErased(owner());
  } finally {
    await trimKept();
  }
}
async function eraseWhatTheServerErased(me) {
  const key = `erased_seq:${me}`;
  let after = (await A.db.getKV(key)) || 0;
  for (;;) {
    const page = await A.api.erased(after);
    const ids = page.items.map((i) => i.id);
    if (ids.length) {
      const erased = await A.db.eraseWithdrawn(ids);
      const consents = page.items.filter((i) => i.entity === 'consent').map((i) => i.id);
      if (consents.length) await A.api.confirmErased(A.deviceId, consents);
      if (erased.length) changed();
    }
    if ((page.narrowed || []).length && (await A.db.narrowConsents(page.narrowed)).length) changed();
    after = page.last_seq;
    await A.db.setKV(key, after);
    if (!page.has_more) break;
  }
}

// Each record keeps its words for as long as its own project allows; a record whose project's kit this phone
// has never had (or lost) gets the strictest of the projects it knows, never the default if one is shorter.
export async function trimKept(now = Date.now()) {
  const onPhone = (await A.db.allRecords()).filter((r) => r.type === 'conversation').map((r) => r.data.project_id);
  const ids = new Set([A.projectId, ...((A.me && A.me.memberships) || []).map((m) => m.project_id), ...onPhone]
    .filter(Boolean));
  const keep = {};
  const known = (await A.db.getKV('keep_days')) || {};
  for (const pid of ids) {
    const kit = pid === A.projectId ? A.kit : await A.db.getKV(`kit:${pid}`);
    const days = Number(kit && kit.project ? kit.project.phone_keep_days : known[pid]);
    if (days > 0) keep[pid] = days;
  }
  const n = await A.db.trimSynced(keep, Math.min(KEEP_DAYS, ...Object.values(keep)), now);
  if (n) changed();
  return n;
}

// ---- records ------------------------------------------------------------------------------------

// `id` is chosen when the form opens: a second submit of the same form is the same record, not a new one.
async function add(type, data, clip, id) {
  const rec = await A.db.addRecord(type, data, owner(), id, clip);
  await countRecords();
  setTimeout(() => A.outbox.sync(), 0);
  return rec;
}

export const addConversation = (data, id) => add('conversation', data, null, id);
export const addConsent = (data, id) => add('consent', data, null, id);
// `clip` (optional): { blob, type, duration_ms } recorded for this fragment; stored with it in one transaction.
export const addFragment = (data, clip, id) => add('fragment', data, clip, id);

// The longest clip this project allows, in seconds.
export function audioMaxSeconds() {
  const v = A.kit && A.kit.project && Number(A.kit.project.audio_max_seconds);
  return v > 0 ? v : 180;
}

// A clip the server refused goes again from the start (the server kept nothing of it).
export async function retryClip(id) {
  await A.db.updateClip(id, { state: 'local', error: null, upload_url: null, offset: 0 });
  changed();
  A.outbox.sync();
}

// The clip of a fragment as a Blob: from the phone while it is here, else from the server (the request
// needs the bearer token, so an <audio src> cannot fetch it itself).
export async function clipBlob(id) {
  const clip = await A.db.getClip(id);
  if (clip && clip.blob) return clip.blob;
  const res = await fetch(`/api/v1/fragments/${encodeURIComponent(id)}/audio`, {
    headers: { Authorization: `Bearer ${A.session && A.session.token}` }, cache: 'no-store', credentials: 'omit',
  });
  if (!res.ok) throw new Error(`audio ${res.status}`);
  return res.blob();
}

export async function retry(id, data) {
  await A.db.retry(id, data);
  await countRecords();
  A.outbox.sync();
}

export async function discard(id) {
  await A.db.discard(id);
  await countRecords();
  changed();
}

export async function exportFile() {
  // Only this researcher's records, and nothing of what was erased: on a shared phone the file is theirs alone.
  const dump = await A.db.exportAll(A.deviceId, (r) => isMine(r) && !r.erased);
  const blob = new Blob([JSON.stringify(dump, null, 1)], { type: 'application/json' });
  const a = h('a', { href: URL.createObjectURL(blob), download: `hearken-backup-${dump.exported_at.slice(0, 19).replace(/:/g, '')}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

export async function importFile(file) {
  const dump = JSON.parse(await file.text());
  const out = await A.db.importRecords(dump);
  // The file may be older than a withdrawal this phone already heard of: ask again from the start for everyone
  // whose records it held (their next look, or this one for whoever is logged in).
  for (const who of new Set(dump.records.map((r) => r && r.owner).filter(Boolean))) await A.db.delKV(`erased_seq:${who}`);
  await followErasures();
  await countRecords();
  A.outbox.sync();
  return out;
}

// ---- storage ------------------------------------------------------------------------------------

export async function requestPersistence() {
  const st = navigator.storage;
  if (!st || !st.persist) { A.persisted = null; return; }
  try {
    A.persisted = (await st.persisted()) || (await st.persist());
  } catch { A.persisted = null; }
  await checkStorage();
}

export async function checkStorage() {
  const st = navigator.storage;
  if (st && st.estimate) {
    try { A.estimate = await st.estimate(); } catch { A.estimate = null; }
  }
  changed();
}

export function storageLow() {
  const e = A.estimate;
  if (!e || !e.quota) return false;
  return e.quota - e.usage < 50 * 1024 * 1024 || e.usage / e.quota > 0.9;
}

// ---- rendering ----------------------------------------------------------------------------------

async function countRecords() {
  A.counts = await A.db.counts(owner() || undefined);
  A.clipCounts = await A.db.clipCounts(owner() || undefined);
}

let pending = null;
let lastSynced = null;
function changed() {
  if (pending) return;
  pending = setTimeout(async () => {
    pending = null;
    await countRecords();
    if (lastSynced !== null && A.counts.synced > lastSynced) announce(S.sentAnnounce(A.counts.synced - lastSynced));
    lastSynced = A.counts.synced;
    renderStatus();
    // A clip being listened to is not cut off by a re-render; the screen catches up at the next change.
    const playing = [...document.querySelectorAll('#main audio')].some((a) => !a.paused);
    if (current && current.live && !playing) liveRender();
  }, 120);
}

// A tap is a pointerdown and a click on the same element: a re-render between them would swallow it, and a
// status line that changes height would move the target from under the finger. So while a finger (or button)
// is down, and until its click has been dispatched, a live screen and the status line wait.
let pointerHeld = false;
let heldRender = false;
let releaseTimer = null;
function liveRender() {
  if (pointerHeld) { heldRender = true; return; }
  render(false);
}
function release() {
  clearTimeout(releaseTimer);
  // The click of a tap comes after pointerup (a touch's after gesture recognition): let it land first.
  releaseTimer = setTimeout(() => {
    pointerHeld = false;
    if (heldRender) { heldRender = false; if (current && current.live) render(false); else renderStatus(); }
  }, 350);
}
function watchPointer() {
  document.addEventListener('pointerdown', () => { clearTimeout(releaseTimer); pointerHeld = true; }, true);
  document.addEventListener('pointerup', release, true);
  document.addEventListener('pointercancel', release, true);
  document.addEventListener('click', () => { if (pointerHeld) { clearTimeout(releaseTimer); releaseTimer = setTimeout(release, 0); } }, true);
}

// The one place the sync status is decided; the status line only shows it. Online or not comes from real
// requests and the browser's own online/offline events; "everything is on the server" only when no record,
// clip or needs-attention item is left on this phone.
export function syncStatus() {
  const ob = A.outbox.state;
  const c = A.counts;
  const k = A.clipCounts;
  const left = c.local + c.attention + k.local + k.attention;
  return {
    online: A.online,
    sending: ob.sending.size > 0,
    uploading: ob.uploading,
    records: c.local, clips: k.local, attention: c.attention, clipAttention: k.attention,
    nextAt: c.local || k.local ? ob.nextAt : null,
    allSent: left === 0 && c.synced > 0,
  };
}

let statusShown = ''; // the status line as last drawn, without the upload's percentage
function renderStatus() {
  // The status line above the screen grows and shrinks; while a finger is down that would move the target.
  if (pointerHeld) { heldRender = true; return; }
  const st = syncStatus();
  const bar = document.getElementById('status');
  const conn = st.online === null ? S.checking : st.online ? S.online : S.offline;
  const parts = [
    h('p', { class: `conn ${st.online ? 'on' : 'off'}`, id: 'conn' }, conn),
    h('p', { id: 'queue' }, st.sending ? S.syncing : st.records ? S.queued(st.records, A.counts.localByType)
      : st.allSent ? S.allSent : '',
      st.nextAt ? ` · ${S.nextTry(fmtTime(st.nextAt))}` : ''),
  ];
  const up = st.uploading;
  // The percentage is for the eye: the line is a live region, and a screen reader would read out every step. It
  // is written into the line below, in place, so a new step changes nothing a screen reader is given.
  const percent = up ? `: ${Math.floor((100 * up.offset) / (up.size || 1))}%` : '';
  if (up) parts.push(h('p', { id: 'clip-upload' }, S.clipUploading, h('span', { 'aria-hidden': 'true', id: 'clip-percent' })));
  else if (st.clips) parts.push(h('p', { id: 'clips-queued' }, S.clipsQueued(st.clips)));
  if (st.clipAttention) parts.push(h('p', { class: 'warn', id: 'clips-attention' }, S.clipsAttention(st.clipAttention)));
  if (st.attention) parts.push(h('p', {}, h('a', { href: '#/attention', class: 'warn', id: 'attention-link' }, S.attentionCount(st.attention))));
  if (A.session && A.session.user && (authNeeded() || !loggedIn()) && A.counts.local) {
    parts.push(h('div', { class: 'banner warn', role: 'alert' }, h('p', {}, S.loginAgain),
      h('button', { type: 'button', onclick: () => go('#/login') }, S.loginAgainButton)));
  }
  if (A.waitingWorker) {
    parts.push(h('div', { class: 'banner' }, h('p', {}, S.updateReady),
      h('button', { type: 'button', id: 'update', onclick: applyUpdate }, S.updateButton)));
  }
  // Only real changes reach the live region, so a screen reader is not told the same thing twice: a line put back
  // whole is read out whole again.
  const box = h('div', {}, parts);
  if (box.innerHTML !== statusShown) {
    statusShown = box.innerHTML;
    bar.replaceChildren(...box.childNodes);
  }
  const shownPercent = bar.querySelector('#clip-percent');
  if (shownPercent && shownPercent.textContent !== percent) shownPercent.textContent = percent;
}

// A live screen is rebuilt when records change; this finds the focused control again afterwards.
function focusSelector(el, main) {
  if (!el || !main.contains(el)) return null;
  if (el.id) return `#${CSS.escape(el.id)}`;
  if (el.tagName === 'H1') return 'h1';
  const href = el.getAttribute('href');
  if (href) return `a[href="${CSS.escape(href)}"]`;
  const item = el.closest('[data-id]');
  const action = el.getAttribute('data-action');
  if (item && action) return `[data-id="${CSS.escape(item.dataset.id)}"] [data-action="${action}"]`;
  return null;
}

let current = null;
let renderSeq = 0;
export async function render(routeChanged = true) {
  const hash = location.hash || '#/';
  let load = null;
  let params = [];
  for (const [re, loader] of ROUTES) {
    const m = hash.match(re);
    if (m) { load = loader; params = m.slice(1); break; }
  }
  if (!A.session || !A.session.user) load = LOGIN;
  const seq = ++renderSeq;
  const main = document.getElementById('main');
  const focusKey = !routeChanged && focusSelector(document.activeElement, main);
  let node;
  let view = null;
  try {
    view = await load();
    node = await view(...params);
  } catch (err) {
    console.error(err);
    node = h('section', {}, h('h1', { tabindex: '-1' }, S.genericError));
  }
  if (seq !== renderSeq) return;
  // The same screen again is updated in place: nodes that did not change stay (with their focus and taps).
  if (!routeChanged && current === view && main.firstChild) morph(main.firstChild, node);
  else main.replaceChildren(node);
  if (routeChanged) forgetObjectURLs(main);
  current = view;
  document.body.dataset.screen = (view && view.screen) || '';
  if (node.dataset && node.dataset.captureReady) markReady();
  const h1 = main.querySelector('h1');
  if (h1) h1.setAttribute('tabindex', '-1');
  if (routeChanged) {
    if (h1) h1.focus();
    document.title = `${(h1 && h1.textContent) || ''} · ${S.appName}`;
  } else if (focusKey) {
    const el = main.querySelector(focusKey);
    if (el) el.focus();
  }
  renderStatus();
}

// Makes `old` look like `fresh`, keeping every node that is already equal. A changed node is replaced whole
// (its listeners come from the fresh render), so no stale handler survives next to new content.
function morph(old, fresh) {
  if (old.isEqualNode(fresh)) return;
  const sameShell = old.nodeType === 1 && fresh.nodeType === 1 && old.tagName === fresh.tagName
    && old.childNodes.length === fresh.childNodes.length && old.childNodes.length > 0
    && old.attributes.length === fresh.attributes.length
    && [...old.attributes].every((a) => fresh.getAttribute(a.name) === a.value)
    && !['INPUT', 'TEXTAREA', 'SELECT', 'BUTTON', 'AUDIO', 'CANVAS'].includes(old.tagName);
  if (!sameShell) { old.replaceWith(fresh); return; }
  const kids = [...fresh.childNodes];
  [...old.childNodes].forEach((k, i) => morph(k, kids[i]));
}

// The benchmark and tests look for this: the capture screen is ready to use.
export function markReady() {
  document.body.dataset.ready = 'capture';
  if (!window.__hearkenReadyAt) window.__hearkenReadyAt = performance.now();
}

// ---- service worker -----------------------------------------------------------------------------

let updateAsked = false;
function applyUpdate() {
  updateAsked = true;
  if (A.waitingWorker) A.waitingWorker.postMessage({ type: 'skip-waiting' });
}

async function registerWorker() {
  if (!('serviceWorker' in navigator)) return;
  let reloading = false;
  const hadController = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    // First install takes control silently; a later one is the update the researcher asked for.
    if (reloading || !(hadController || updateAsked)) return;
    reloading = true;
    location.reload();
  });
  try {
    const reg = await navigator.serviceWorker.register('sw.js', { scope: './' });
    const watch = (w) => {
      if (!w) return;
      const ready = () => {
        if (w.state === 'installed' && navigator.serviceWorker.controller) { A.waitingWorker = w; renderStatus(); }
      };
      w.addEventListener('statechange', ready);
      ready();
    };
    watch(reg.waiting);
    reg.addEventListener('updatefound', () => watch(reg.installing));
    A.registration = reg;
  } catch (err) {
    console.warn('service worker not registered', err);
  }
}

// ---- start --------------------------------------------------------------------------------------

export async function start() {
  document.querySelector('.skip').textContent = S.skip;
  A.db = await openDB(undefined, { onVersionChange: () => location.reload() });
  A.deviceId = await A.db.getKV('device_id');
  if (!A.deviceId) { A.deviceId = uuid(); await A.db.setKV('device_id', A.deviceId); }
  A.session = (await A.db.getKV('session')) || null;
  A.me = (await A.db.getKV('me')) || null;
  A.projectId = (await A.db.getKV('project_id')) || '';
  A.kit = A.projectId ? (await A.db.getKV(`kit:${A.projectId}`)) || null : null;
  A.removedFrom = owner() ? (await A.db.getKV(`removed_from:${owner()}`)) || '' : '';
  await A.db.delKV('removed_from'); // before 2026.11.30-17 one notice for the whole phone, whoever it was for

  const params = new URLSearchParams(location.search);
  if (params.get('enrol')) {
    A.enrolCode = params.get('enrol');
    history.replaceState(null, '', location.pathname + '#/login');
  }

  // A request that answered after the browser said it went offline (it began before) does not make us online.
  const reach = (answered) => {
    const ok = answered && navigator.onLine !== false;
    if (A.online !== ok) { A.online = ok; if (A.outbox) changed(); }
  };
  A.api = createApi({ getToken: () => (A.session ? A.session.token : null), onReach: reach });
  A.outbox = createOutbox({
    db: A.db, api: A.api, deviceId: () => A.deviceId, getOwner: owner,
    uploader: createUploader({ getToken: () => (A.session ? A.session.token : null), onReach: reach }),
    onChange: () => {
      const err = A.outbox.state.lastError;
      if (err && err.status === 401) sessionEnded(err);
      kitFollowsSync();
      erasuresFollowSync();
      changed();
    },
  });
  window.addEventListener('hashchange', () => render(true));
  watchPointer();
  window.addEventListener('online', () => { if (!A.me || !A.kit) refreshRemote(); else A.api.health().catch(() => {}); });
  // The browser knows at once when the network is gone; a request would only learn it at the next try.
  window.addEventListener('offline', () => { A.online = false; changed(); });
  await countRecords();
  lastSynced = A.counts.synced;
  await render(true);

  registerWorker();
  // The first screen is up: now fetch the others, so they are here even before the service worker is.
  ROUTES.filter(([re]) => re !== WORKSPACE_ROUTE || managesAny()).forEach(([, load]) => load().catch(() => {}));
  A.outbox.start();
  followErasures();
  if (loggedIn()) refreshRemote();
  else A.api.health().catch(() => {});
  setInterval(followErasures, 60 * 1000);
  if (A.session) requestPersistence();
  else checkStorage();
}
