// This phone: is the storage kept, how full is it, backup to a file and back, log out.

import { S } from '../strings.js';
import { h, field } from '../dom.js';
import { A, VERSION, exportFile, importFile, logout, storageLow, loggedIn, unsentOfMine } from '../app.js';
import { backLink } from './common.js';

function size(bytes) {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${Math.round(bytes / 1e3)} kB`;
}

export async function phoneView() {
  const e = A.estimate;
  const result = h('p', { role: 'status', id: 'import-result' });
  const file = h('input', {
    type: 'file', accept: 'application/json,.json', id: 'import-file',
    onchange: async () => {
      if (!file.files[0]) return;
      try {
        const out = await importFile(file.files[0]);
        result.textContent = S.imported(out.added, out.skipped);
      } catch {
        result.textContent = S.importFailed;
      }
      file.value = '';
    },
  });
  const user = A.session && A.session.user;
  // Logging out with unsent records says whose they are and what happens to them, or erases them on a typed word.
  const logoutBox = h('div', { id: 'logout-box' });
  const askLogout = async () => {
    const n = await unsentOfMine();
    if (!n.total) { await logout(); return; }
    const who = user.display_name ? `${user.display_name} (${user.email})` : user.email;
    const confirmInput = h('input', {
      type: 'text', id: 'logout-confirm', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false',
      oninput: () => { eraseBtn.disabled = confirmInput.value.trim() !== S.eraseWord; },
    });
    const eraseBtn = h('button', { type: 'button', class: 'danger', id: 'logout-erase', disabled: true,
      onclick: () => logout({ erase: true }) }, S.logoutErase);
    logoutBox.replaceChildren(h('div', { class: 'notice warn', role: 'alert', id: 'logout-unsent' },
      h('p', {}, S.logoutUnsent(n, who)),
      h('button', { type: 'button', class: 'primary', id: 'logout-keep', onclick: () => logout() }, S.logoutKeep),
      field(S.logoutEraseLabel(S.eraseWord), confirmInput), eraseBtn));
    confirmInput.focus();
  };
  return h('section', { class: 'screen' }, backLink(), h('h1', {}, S.phoneTitle),
    h('h2', {}, S.storageTitle),
    h('p', { id: 'persisted', 'data-persisted': String(A.persisted) },
      A.persisted === true ? S.persisted : A.persisted === false ? S.notPersisted : S.persistUnknown),
    e && e.quota ? h('p', { id: 'usage' }, S.used(size(e.usage || 0), size(e.quota))) : null,
    A.clipCounts.bytes ? h('p', { id: 'clips-stored' }, S.clipsStored(A.clipCounts.local + A.clipCounts.attention, size(A.clipCounts.bytes))) : null,
    storageLow() ? h('p', { class: 'notice warn', role: 'alert', id: 'low-storage' }, S.lowStorage) : null,
    h('h2', {}, S.backupTitle), h('p', {}, S.backupIntro),
    h('button', { type: 'button', id: 'export', onclick: exportFile }, S.exportButton),
    field(S.importLabel, file), result,
    user ? h('p', {}, S.loggedInAs(user.display_name || user.email)) : null,
    loggedIn() ? h('button', { type: 'button', id: 'logout', onclick: askLogout }, S.logout) : null,
    logoutBox,
    h('p', { class: 'hint' }, S.version(VERSION)));
}
phoneView.screen = 'phone';
