// The coordinator's workspace at #/co/<project id>/<page>[/<rest>]: a laptop-first frame (project picker and
// navigation) around one page module. Online only: every page reads and writes the server directly.

import { A, go } from '../app.js';
import { h } from '../dom.js';
import { C } from './strings.js';
import { loadStyle, managedProjects, problem } from './ui.js';

// Page modules load when first opened; each exports `page(ctx)` returning a node (or a promise of one).
const PAGES = [
  ['overview', () => import('./overview.js')],
  ['review', () => import('./review.js')],
  ['tagging', () => import('./tagging.js')],
  ['search', () => import('./search.js')],
  ['codebook', () => import('./codebook.js')],
  ['consents', () => import('./consents.js')],
  ['audit', () => import('./audit.js')],
  ['people', () => import('./people.js')],
  ['project', () => import('./project.js')],
  ['memos', () => import('./memos.js')], // coord: memos and the Data page (exports)
  ['data', () => import('./data.js')],
  ['workshops', () => import('./workshops.js')],
];

export async function coordView(projectId = '', pageName = '', rest = '') {
  loadStyle();
  if (!A.me) return frame(null, [], h('p', { class: 'notice warn' }, C.needsConnection));
  let projects;
  try {
    projects = await managedProjects();
  } catch (err) {
    return frame(null, [], problem(err));
  }
  // Admins, and coordinators, may start a project; an admin with none yet starts there.
  const mayCreate = A.me.user.is_admin || projects.length > 0;
  if (projectId === 'new' && mayCreate) {
    return frame(null, projects, (await import('./project.js')).newProject());
  }
  if (!projects.length && mayCreate) {
    setTimeout(() => go('#/co/new'), 0);
    return h('section', { class: 'screen' }, h('h1', {}, C.opening));
  }
  if (!projects.length) {
    return h('section', { class: 'screen', id: 'coord-refused' },
      h('h1', {}, C.refusedTitle), h('p', { class: 'notice warn', role: 'alert' }, C.refused),
      h('a', { href: '#/', class: 'button' }, C.backToCapture));
  }
  const project = projects.find((p) => p.id === projectId);
  const entry = PAGES.find(([name]) => name === pageName);
  if (!project || !entry) {
    // An unknown or foreign project id, or no page: start at the first project's overview.
    const fallback = project || projects[0];
    setTimeout(() => go(`#/co/${fallback.id}/${entry ? pageName : 'overview'}`), 0);
    return h('section', { class: 'screen' }, h('h1', {}, C.opening));
  }
  const [query, ...path] = splitRest(rest);
  const module = await entry[1]();
  const ctx = { project, projects, page: pageName, path, query, href: (page, more = '') => href(project.id, page, more) };
  return frame(ctx, projects, await module.page(ctx));
}
coordView.screen = 'coordinator';

export const href = (projectId, page, more = '') => `#/co/${projectId}/${page}${more ? `/${more}` : ''}`;

// "a/b?x=1" -> [URLSearchParams("x=1"), "a", "b"]
function splitRest(rest) {
  const [path, qs] = (rest || '').split('?');
  return [new URLSearchParams(qs || ''), ...path.split('/').filter(Boolean).map(decodeURIComponent)];
}

function frame(ctx, projects, content) {
  const nav = [];
  if (ctx) {
    const picker = h('select', {
      id: 'coord-project', 'aria-label': C.project,
      onchange: (e) => go(href(e.target.value, ctx.page)),
    }, projects.map((p) => h('option', { value: p.id, selected: p.id === ctx.project.id }, p.name)));
    nav.push(h('div', { class: 'co-project' }, projects.length > 1 ? picker : h('strong', {}, ctx.project.name)),
      h('ul', {}, PAGES.map(([name]) => h('li', {}, h('a', {
        href: href(ctx.project.id, name), 'aria-current': name === ctx.page ? 'page' : null,
      }, C.nav[name])))));
  }
  if (!ctx && projects.length) nav.push(h('p', {}, h('a', { href: href(projects[0].id, 'overview') }, C.toWorkspace)));
  if (projects.length || (A.me && A.me.user.is_admin)) nav.push(h('p', {}, h('a', { href: '#/co/new', id: 'to-new-project', 'aria-current': location.hash === '#/co/new' ? 'page' : null }, C.newProject)));
  nav.push(h('p', {}, h('a', { href: '#/' }, C.backToCapture)));
  return h('div', { class: 'co', 'data-page': ctx ? ctx.page : '' },
    h('nav', { class: 'co-nav', 'aria-label': C.workspace }, nav),
    h('section', { class: 'co-page' }, content));
}
