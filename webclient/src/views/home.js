// The first screen after login: project, whether capture is allowed, conversations on this phone.

import { S } from '../strings.js';
import { h, field, fmtDateTime } from '../dom.js';
import { A, selectProject, go, managesAny, isMine } from '../app.js';
import { groupBadge, findById } from './common.js';

export async function homeView() {
  const members = (A.me && A.me.memberships) || [];
  const kit = A.kit;
  const body = [h('h1', {}, S.homeTitle)];
  if (A.removedFrom) {
    body.push(h('div', { class: 'notice warn', role: 'status', id: 'removed' }, h('p', {}, S.removedFrom(A.removedFrom)),
      h('button', { type: 'button', class: 'small', onclick: async () => { A.removedFrom = ''; await A.db.delKV(`removed_from:${A.me.user.id}`); go('#/'); } }, S.understood)));
  }
  if (managesAny()) body.push(h('p', {}, h('a', { href: '#/co', id: 'to-workspace' }, S.workspaceLink)));

  if (members.length > 1) {
    const sel = h('select', { id: 'project', onchange: (e) => selectProject(e.target.value) },
      members.map((m) => h('option', { value: m.project_id, selected: m.project_id === A.projectId }, m.project_name)));
    body.push(field(S.project, sel));
  } else if (kit) {
    body.push(h('p', { class: 'project' }, kit.project.name));
  }

  let canStart = false;
  if (!members.length && A.me) body.push(h('p', { class: 'notice' }, S.noProjects));
  else if (!kit) body.push(h('p', { class: 'notice' }, S.noKit));
  else if (!kit.can_capture) {
    body.push(h('div', { class: 'notice warn', role: 'status', id: 'refusal' },
      h('p', {}, h('strong', {}, S.cannotCapture)),
      h('p', {}, (kit.capture_refusal && kit.capture_refusal.detail) || '')));
  } else canStart = true;

  body.push(h('button', {
    type: 'button', class: 'primary big', id: 'start', disabled: !canStart, onclick: () => go('#/new'),
  }, S.startConversation));

  const all = (await A.db.allRecords()).filter(isMine);
  const convs = all.filter((r) => r.type === 'conversation' && (!A.projectId || r.data.project_id === A.projectId));
  if (!convs.length) body.push(h('p', {}, S.noConversations));
  else {
    const places = (kit && kit.places) || [];
    body.push(h('ul', { class: 'list', id: 'conversations' }, convs.reverse().map((c) => {
      const mine = all.filter((r) => r.conv === c.id);
      const nPart = mine.filter((r) => r.type === 'consent').length;
      const nFrag = mine.filter((r) => r.type === 'fragment').length;
      const place = findById(places, c.data.place_id);
      return h('li', {}, h('a', { href: `#/c/${c.id}`, class: 'item' },
        h('span', { class: 'title' }, place ? place.name : S.noPlace, ' · ', fmtDateTime(c.data.started_at)),
        h('span', { class: 'meta' }, `${S.participants(nPart)}, ${S.fragments(nFrag)}`),
        groupBadge(mine)));
    })));
  }

  body.push(h('div', { class: 'actions' },
    h('button', { type: 'button', id: 'sync', onclick: () => A.outbox.sync() }, S.syncNow),
    h('a', { href: '#/phone', class: 'button' }, S.phoneLink)));
  return h('section', { class: 'screen', 'data-capture-ready': canStart ? '1' : null }, body);
}
homeView.screen = 'home';
homeView.live = true;
