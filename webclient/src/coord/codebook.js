// The codebook: the project's tags as a tree with colours, descriptions and how many fragments carry each; add,
// rename, recolour, move, merge, delete (after a preview of what it takes away); how often the most used tags
// share a fragment; exchange with other qualitative tools as a REFI-QDA codebook (.qdc).

import { field, h } from '../dom.js';
import { options, tagPath } from './fragments.js';
import { C } from './strings.js';
import { api, download, problem, saving, statusLine, table, upload } from './ui.js';

export async function page(ctx) {
  const pid = ctx.project.id;
  let tags = [];
  let byId = new Map();
  let counts = new Map();
  const L = { get tag() { return byId; } };
  const tree = h('div', { id: 'codebook-tree' });
  const status = statusLine('codebook-status');
  const cooc = h('div', { id: 'cooccurrence' });

  async function reload(focusId) {
    let numbers;
    try {
      [tags, numbers] = await Promise.all([api('GET', `/projects/${pid}/tags`), api('GET', `/projects/${pid}/tag-counts`)]);
    } catch (err) {
      tree.replaceChildren(problem(err));
      return;
    }
    counts = new Map(numbers.map((c) => [c.tag_id, c]));
    byId = new Map(tags.map((t) => [t.id, t]));
    for (const t of tags) t.path = tagPath(L, t);
    tree.replaceChildren(tags.length ? branch(null) : h('p', {}, C.cb.empty));
    parentSelect.replaceChildren(...parentOptions(null, ''));
    const target = focusId && tree.querySelector(`[data-tag="${focusId}"] [data-action=edit]`);
    if (target) target.focus();
    drawCooccurrence();
  }

  // The most used tags against each other: each cell is how many fragments carry both.
  async function drawCooccurrence() {
    let data;
    try { data = await api('GET', `/projects/${pid}/tag-cooccurrence?top=10`); } catch (err) {
      cooc.replaceChildren(problem(err));
      return;
    }
    if (data.tags.length < 2) { cooc.replaceChildren(h('p', { class: 'hint' }, C.cb.coocEmpty)); return; }
    const both = new Map();
    for (const p of data.pairs) { both.set(`${p.a}|${p.b}`, p.fragments); both.set(`${p.b}|${p.a}`, p.fragments); }
    const name = (id) => (byId.get(id) || { name: '?' }).name;
    const columns = [[C.cb.coocTag, (r) => h('span', {}, `${name(r.tag_id)} (${r.own})`)],
      ...data.tags.map((c) => [name(c.tag_id), (r) => (r.tag_id === c.tag_id ? '—' : String(both.get(`${r.tag_id}|${c.tag_id}`) || 0))])];
    cooc.replaceChildren(table(columns, data.tags, { id: 'cooccurrence-table', caption: C.cb.coocCaption }));
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
    const del = h('button', { type: 'button', 'data-action': 'delete', 'aria-label': C.cb.deleteOf(t.name), onclick: () => deleteForm(t, panel, del) }, C.cb.del);
    const n = counts.get(t.id) || { own: 0, with_children: 0 };
    const hasKids = tags.some((c) => c.parent_id === t.id);
    return h('div', { class: 'tag-row' },
      h('span', { class: 'swatch', style: `background:${t.colour || '#666666'}`, 'aria-hidden': 'true' }),
      h('div', { class: 'tag-what' }, h('strong', { class: 'tag-name' }, t.name),
        h('span', { class: 'tag-count', 'data-own': n.own, 'data-total': n.with_children },
          hasKids ? C.cb.countWithChildren(n.own, n.with_children) : C.cb.count(n.own)),
        t.description ? h('p', { class: 'hint' }, t.description) : null),
      h('div', { class: 'actions' }, edit, merge, del),
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

  // A preview from the server first: how many fragments lose the tag, and what happens to the tags under it.
  async function deleteForm(t, panel, opener) {
    let preview;
    try { preview = await api('GET', `/tags/${t.id}/deletion-preview`); } catch (err) {
      panel.replaceChildren(problem(err));
      return;
    }
    const kids = preview.children > 0;
    const choice = kids ? h('fieldset', { class: 'choice' }, h('legend', {}, C.cb.childrenChoice(preview.children)),
      ...[['lift', C.cb.lift], ['delete', C.cb.deleteAll(preview.descendants, preview.fragments_with_descendants)]]
        .map(([v, label], k) => h('label', {}, h('input', { type: 'radio', name: 'children', value: v, checked: k === 0 }), ' ', label)))
      : null;
    const go = h('button', { type: 'submit', class: 'danger', id: 'confirm-delete' }, C.cb.confirmDelete);
    const st = statusLine();
    const form = h('form', {
      class: 'tag-delete',
      onsubmit: async (e) => {
        e.preventDefault();
        const mode = kids ? form.elements.namedItem('children').value : 'lift';
        let result;
        try { result = await saving(go, st, () => api('DELETE', `/tags/${t.id}?children=${mode}`)); } catch { return; }
        await reload(t.parent_id);
        status.textContent = C.cb.deleted(t.name, result);
      },
    }, h('p', { class: 'notice warn', id: 'delete-preview' }, C.cb.deleteWarn(t.name, preview.fragments)), choice,
    h('div', { class: 'actions' }, go, h('button', { type: 'button', onclick: () => { panel.replaceChildren(); opener.focus(); } }, C.cb.cancel)),
    st);
    panel.replaceChildren(form);
    go.focus();
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
    h('section', { 'aria-labelledby': 'cooc-h' }, h('h2', { id: 'cooc-h' }, C.cb.cooc), h('p', { class: 'hint' }, C.cb.coocIntro), cooc),
    h('section', { 'aria-labelledby': 'add-h' }, h('h2', { id: 'add-h' }, C.cb.add), addForm, addStatus),
    h('section', { 'aria-labelledby': 'qdc-h' }, h('h2', { id: 'qdc-h' }, C.cb.files),
      h('div', { class: 'co-filters' }, exportButton, field(C.cb.importFile, file)), confirm, fileStatus));
}
