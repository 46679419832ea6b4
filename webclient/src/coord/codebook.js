// The codebook: the project's tags as a tree with colours and descriptions; add, rename, recolour, move, merge;
// exchange with other qualitative tools as a REFI-QDA codebook (.qdc).

import { field, h } from '../dom.js';
import { options, tagPath } from './fragments.js';
import { C } from './strings.js';
import { api, download, problem, saving, statusLine, upload } from './ui.js';

export async function page(ctx) {
  const pid = ctx.project.id;
  let tags = [];
  let byId = new Map();
  const L = { get tag() { return byId; } };
  const tree = h('div', { id: 'codebook-tree' });
  const status = statusLine('codebook-status');

  async function reload(focusId) {
    try {
      tags = await api('GET', `/projects/${pid}/tags`);
    } catch (err) {
      tree.replaceChildren(problem(err));
      return;
    }
    byId = new Map(tags.map((t) => [t.id, t]));
    for (const t of tags) t.path = tagPath(L, t);
    tree.replaceChildren(tags.length ? branch(null) : h('p', {}, C.cb.empty));
    parentSelect.replaceChildren(...parentOptions(null, ''));
    const target = focusId && tree.querySelector(`[data-tag="${focusId}"] [data-action=edit]`);
    if (target) target.focus();
  }

  const sorted = () => [...tags].sort((a, b) => a.path.localeCompare(b.path));
  // Anything but the tag itself and what lies under it can be its parent.
  const under = (t, id) => { for (let p = t, n = 0; p && n < 12; p = byId.get(p.parent_id), n++) if (p.id === id) return true; return false; };
  const parentOptions = (self, value) => options([['', C.cb.top],
    ...sorted().filter((t) => !self || !under(t, self.id)).map((t) => [t.id, t.path])], value || '');

  function branch(parentId) {
    const kids = tags.filter((t) => (parentId ? t.parent_id === parentId : !byId.has(t.parent_id)))
      .sort((a, b) => a.name.localeCompare(b.name));
    return h('ul', { class: 'tree' }, kids.map((t) => h('li', { 'data-tag': t.id },
      row(t),
      tags.some((c) => c.parent_id === t.id) ? branch(t.id) : null)));
  }

  function row(t) {
    const panel = h('div', { class: 'tag-panel' });
    const edit = h('button', { type: 'button', 'data-action': 'edit', 'aria-label': C.cb.editOf(t.name), onclick: () => editForm(t, panel, edit) }, C.cb.edit);
    const merge = h('button', { type: 'button', 'data-action': 'merge', 'aria-label': C.cb.mergeOf(t.name), onclick: () => mergeForm(t, panel, merge) }, C.cb.merge);
    return h('div', { class: 'tag-row' },
      h('span', { class: 'swatch', style: `background:${t.colour || '#666666'}`, 'aria-hidden': 'true' }),
      h('div', { class: 'tag-what' }, h('strong', { class: 'tag-name' }, t.name),
        t.description ? h('p', { class: 'hint' }, t.description) : null),
      h('div', { class: 'actions' }, edit, merge),
      panel);
  }

  function editForm(t, panel, opener) {
    const name = h('input', { type: 'text', name: 'name', value: t.name, maxlength: 120, required: true });
    const description = h('textarea', { name: 'description', rows: 2 });
    description.value = t.description || '';
    const colour = h('input', { type: 'color', name: 'colour', value: t.colour || '#666666' });
    const parent = h('select', { name: 'parent' }, parentOptions(t, t.parent_id));
    const save = h('button', { type: 'submit', class: 'primary' }, C.cb.save);
    const st = statusLine();
    panel.replaceChildren(h('form', {
      class: 'tag-edit',
      onsubmit: async (e) => {
        e.preventDefault();
        const change = {};
        if (name.value.trim() !== t.name) change.name = name.value.trim();
        if (description.value !== (t.description || '')) change.description = description.value;
        if (colour.value !== (t.colour || '#666666')) change.colour = colour.value;
        if ((parent.value || null) !== (t.parent_id || null)) change.parent_id = parent.value || null;
        if (Object.keys(change).length) {
          try { await saving(save, st, () => api('PATCH', `/tags/${t.id}`, change)); } catch { return; }
        }
        await reload(t.id);
      },
    }, h('div', { class: 'co-cols' }, field(C.cb.name, name), field(C.cb.parent, parent),
      field(C.cb.colour, colour), field(C.cb.description, description)),
    h('div', { class: 'actions' }, save, h('button', { type: 'button', onclick: () => { panel.replaceChildren(); opener.focus(); } }, C.cb.cancel)),
    st));
    name.focus();
  }

  function mergeForm(t, panel, opener) {
    const into = h('select', { name: 'into' }, options(sorted().filter((x) => x.id !== t.id).map((x) => [x.id, x.path]), ''));
    const warn = h('p', { class: 'notice warn', 'aria-live': 'polite' });
    const go = h('button', { type: 'submit', class: 'danger', disabled: true }, C.cb.confirmMerge);
    const st = statusLine();
    const show = () => {
      const b = byId.get(into.value);
      go.disabled = !b;
      warn.textContent = b ? C.cb.mergeWarn(t.name, b.name) : '';
    };
    into.addEventListener('change', show);
    show();
    panel.replaceChildren(h('form', {
      class: 'tag-merge',
      onsubmit: async (e) => {
        e.preventDefault();
        const b = byId.get(into.value);
        if (!b) return;
        try { await saving(go, st, () => api('POST', `/tags/${t.id}/merge`, { into: b.id })); } catch { return; }
        await reload(b.id);
        status.textContent = C.cb.merged(t.name, b.name);
      },
    }, field(C.cb.mergeInto, into), warn,
    h('div', { class: 'actions' }, go, h('button', { type: 'button', onclick: () => { panel.replaceChildren(); opener.focus(); } }, C.cb.cancel)),
    st));
    into.focus();
  }

  // ---- a new tag ----
  const newName = h('input', { type: 'text', name: 'name', maxlength: 120, required: true });
  const parentSelect = h('select', { name: 'parent' });
  const newColour = h('input', { type: 'color', name: 'colour', value: '#1d5c8f' });
  const newDescription = h('input', { type: 'text', name: 'description', maxlength: 2000 });
  const addButton = h('button', { type: 'submit', class: 'primary' }, C.cb.addButton);
  const addStatus = statusLine('add-status');
  const addForm = h('form', {
    id: 'add-tag', class: 'co-filters',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { name: newName.value.trim(), colour: newColour.value, description: newDescription.value };
      if (parentSelect.value) body.parent_id = parentSelect.value;
      try { await saving(addButton, addStatus, () => api('POST', `/projects/${pid}/tags`, body)); } catch { return; }
      newName.value = '';
      newDescription.value = '';
      await reload();
      newName.focus();
    },
  }, field(C.cb.name, newName), field(C.cb.parent, parentSelect), field(C.cb.colour, newColour),
  field(C.cb.description, newDescription), addButton);

  // ---- REFI-QDA exchange: a dry run first shows what an import will change ----
  const path = `/projects/${pid}/codebook.qdc`;
  const file = h('input', { type: 'file', id: 'qdc-file', accept: '.qdc,.xml,application/xml,text/xml' });
  const fileStatus = statusLine('qdc-status');
  const confirm = h('div', { id: 'qdc-confirm' });
  const exportButton = h('button', {
    type: 'button', id: 'qdc-export',
    onclick: () => saving(exportButton, fileStatus, () => download(path, 'codebook.qdc'))
      .then((name) => { fileStatus.textContent = C.cb.exported(name); }, () => {}),
  }, C.cb.export);
  file.addEventListener('change', async () => {
    confirm.replaceChildren();
    const f = file.files[0];
    if (!f) return;
    const text = await f.text();
    fileStatus.className = 'status';
    fileStatus.removeAttribute('role');
    let preview;
    try {
      preview = await upload(`${path}?dry_run=true`, text, 'application/xml');
    } catch (err) {
      fileStatus.replaceChildren(problem(err));
      return;
    }
    fileStatus.textContent = '';
    const go = h('button', {
      type: 'button', class: 'primary', id: 'qdc-import',
      onclick: async () => {
        let result;
        try { result = await saving(go, fileStatus, () => upload(path, text, 'application/xml')); } catch { return; }
        confirm.replaceChildren(h('p', { class: 'notice' }, C.cb.imported(result)));
        file.value = '';
        await reload();
      },
    }, C.cb.doImport);
    confirm.replaceChildren(h('p', { class: 'notice' }, C.cb.preview(preview)), go);
    go.focus();
  });

  await reload();
  return h('div', { id: 'codebook' },
    h('h1', {}, C.cb.title), h('p', {}, C.cb.intro), status, tree,
    h('section', { 'aria-labelledby': 'add-h' }, h('h2', { id: 'add-h' }, C.cb.add), addForm, addStatus),
    h('section', { 'aria-labelledby': 'qdc-h' }, h('h2', { id: 'qdc-h' }, C.cb.files),
      h('div', { class: 'co-filters' }, exportButton, field(C.cb.importFile, file)), confirm, fileStatus));
}
