// A live sense-making board, for the facilitator (in the coordinator's workspace) and for participants who joined
// with the workshop's code (join.html). The rules:
// - The server holds the truth: the board is its state plus the operations after it, applied in server seq order,
//   so every screen that has seen the same operations shows the same board (last writer by seq wins).
// - Every change is an operation with an id made here. It is shown at once, kept in a queue (in localStorage for
//   the facilitator) and sent until the server answers for it: `applied` or `duplicate` take it off the queue,
//   `rejected` too (with a notice). A resend after a dropped connection is never applied twice.
// - Updates arrive as server-sent events read from a fetch stream (so the token goes in a header), reconnecting
//   with the last seq seen. A card whose fragment is withdrawn leaves at once (`removed`).

import { h } from '../dom.js';

const CARD_W = 210;
const THEME_W = 260;
const THEME_H = 320;
const newId = () => (crypto.randomUUID ? crypto.randomUUID()
  : 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => {
    const r = (Math.random() * 16) | 0;
    return (c === 'x' ? r : (r & 0x3) | 0x8).toString(16);
  }));

export function createBoard({ base, token, queueKey = null, guest = false, strings: S, onEnd = () => {} }) {
  let server = null; // {cards: Map, themes: Map, notes: Map, seq, workshop, guests}
  let queue = queueKey ? JSON.parse(localStorage.getItem(queueKey) || '[]') : [];
  let applied = []; // sent and applied by the server, not yet back on the stream
  const undo = [];
  let online = true;
  let stopped = false;
  let refusedNotice = '';
  let endedText = S.ended;
  let sending = false;
  const root = h('div', { class: 'board-wrap' });
  const status = h('p', { class: 'board-status', 'aria-live': 'polite', id: 'board-status' });
  const surface = h('div', { class: 'board-surface', id: 'board-surface' });
  const toolbar = h('div', { class: 'board-tools' });
  root.append(toolbar, status, surface);
  const els = new Map(); // id -> element, kept between renders (300 cards move without rebuilding the page)

  const headers = () => ({ Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' });
  const saveQueue = () => { if (queueKey) localStorage.setItem(queueKey, JSON.stringify(queue)); };

  async function load() {
    const res = await fetch(`${base}`, { headers: headers(), cache: 'no-store' });
    if (!res.ok) throw Object.assign(new Error('board'), { status: res.status });
    const b = await res.json();
    applied = []; // the board as loaded holds them
    server = {
      seq: b.seq, workshop: b.workshop, guests: b.guests,
      cards: new Map(b.cards.map((c) => [c.id, c])),
      themes: new Map(b.themes.map((t) => [t.id, t])),
      notes: new Map(b.notes.map((n) => [n.id, n])),
    };
  }

  // One operation onto a state (the server's or the shown one): the same code for both, so they agree.
  function apply(state, kind, d) {
    if (kind === 'move') {
      const c = state.cards.get(d.card_id);
      if (c) state.cards.set(c.id, { ...c, x: d.x, y: d.y, theme_id: d.theme_id || null });
    } else if (kind === 'theme') {
      const t = state.themes.get(d.theme_id);
      state.themes.set(d.theme_id, { votes: 0, ...t, id: d.theme_id, name: d.name, x: d.x, y: d.y });
    } else if (kind === 'theme_remove') {
      state.themes.delete(d.theme_id);
      for (const c of state.cards.values()) if (c.theme_id === d.theme_id) state.cards.set(c.id, { ...c, theme_id: null });
      for (const n of state.notes.values()) if (n.theme_id === d.theme_id) state.notes.set(n.id, { ...n, theme_id: null });
    } else if (kind === 'vote') {
      const t = state.themes.get(d.theme_id);
      if (t) state.themes.set(t.id, { ...t, votes: d.votes !== undefined ? d.votes : Math.max(0, t.votes + d.delta) });
    } else if (kind === 'note') {
      state.notes.set(d.note_id, { id: d.note_id, text: d.text, theme_id: d.theme_id || null, x: d.x, y: d.y });
    } else if (kind === 'note_remove') {
      state.notes.delete(d.note_id);
    } else if (kind === 'lock') {
      state.workshop = { ...state.workshop, locked: d.locked };
    }
  }

  function shown() {
    const s = { ...server, cards: new Map(server.cards), themes: new Map(server.themes), notes: new Map(server.notes) };
    for (const op of [...applied, ...queue]) apply(s, op.kind, op.data);
    return s;
  }

  function op(kind, data, inverse = null) {
    refusedNotice = '';
    queue.push({ id: newId(), kind, data });
    if (inverse) undo.push(inverse);
    saveQueue();
    render();
    flush();
  }

  async function flush() {
    if (sending || !queue.length || stopped) return;
    sending = true;
    const batch = queue.slice(0, 200);
    try {
      const res = await fetch(`${base}/ops`, { method: 'POST', headers: headers(), body: JSON.stringify({ ops: batch }) });
      if (res.status === 401 || res.status === 404) { end(await endReason(res)); return; }
      if (!res.ok) throw new Error(`status ${res.status}`);
      const { results } = await res.json();
      const done = new Set(results.map((r) => r.id));
      const refused = results.filter((r) => r.status === 'rejected');
      // Applied but not yet seen on the stream: still shown, or the card jumps back until its event arrives (and a
      // nudge made meanwhile starts from where it was).
      const ahead = new Set(results.filter((r) => r.status === 'applied' && r.seq > server.seq).map((r) => r.id));
      applied = applied.concat(queue.filter((o) => ahead.has(o.id)));
      queue = queue.filter((o) => !done.has(o.id));
      saveQueue();
      setOnline(true);
      // Said until the next change: the change flashed and vanished, and render() wiped the notice at once.
      if (refused.length) refusedNotice = S.refused(refused.length);
      render();
    } catch {
      setOnline(false);
      setTimeout(flush, 2000);
    } finally {
      sending = false;
    }
    if (queue.length) flush();
  }

  function setOnline(value) {
    online = value;
    if (stopped) { status.textContent = endedText; return; }
    root.classList.toggle('offline', !online);
    status.textContent = online ? (queue.length ? S.sending(queue.length) : '') : S.offline(queue.length);
  }

  async function follow() {
    while (!stopped) {
      try {
        const res = await fetch(`${base}/events?after=${server.seq}&wait=25`, { headers: headers(), cache: 'no-store' });
        if (res.status === 401 || res.status === 404) { end(await endReason(res)); return; }
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let cut;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            event(buf.slice(0, cut));
            buf = buf.slice(cut + 2);
          }
        }
        setOnline(true);
        flush();
      } catch {
        setOnline(false);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  function event(block) {
    const type = (block.match(/^event: (.*)$/m) || [])[1];
    const data = (block.match(/^data: (.*)$/m) || [])[1];
    if (!type || !data) return;
    const d = JSON.parse(data);
    if (type === 'op' && d.seq > server.seq) {
      if (d.kind === 'reload') { load().then(render); return; }
      apply(server, d.kind, d.data);
      server.seq = d.seq;
      queue = queue.filter((o) => o.id !== d.id);
      applied = applied.filter((o) => o.id !== d.id);
      saveQueue();
      render();
    } else if (type === 'removed') {
      for (const id of d.card_ids) server.cards.delete(id);
      render();
    } else if (type === 'end') {
      end(d.reason);
    }
  }

  // Why a refused token ended the board: taken off it (`guest_removed`), or closed.
  async function endReason(res) {
    const body = await res.json().catch(() => ({}));
    return body.code === 'guest_removed' ? 'removed' : 'closed';
  }

  function end(reason) {
    stopped = true;
    onEnd(reason);
    // A guest's screen lets the cards go when the board ends for them (closed, or taken off it): the stream has
    // stopped, so a card withdrawn later could no longer leave it. The facilitator's stays, to look back at.
    if (guest) {
      surface.replaceChildren();
      toolbar.replaceChildren();
    }
    endedText = reason === 'removed' && S.removed ? S.removed : S.ended;
    status.textContent = endedText;
  }

  // --- drawing ------------------------------------------------------------------------------------------------
  function themeAt(x, y, themes) {
    for (const t of themes.values()) if (x >= t.x && x <= t.x + THEME_W && y >= t.y && y <= t.y + THEME_H) return t;
    return null;
  }

  // Where a group's cards begin: below its name, its notes and its "add a note" (a card on top of them, dropped or
  // moved there by keyboard, hid what the group wrote: notes cannot sit above cards, each group being a stacking
  // context of its own).
  function cardsTop(t) {
    const group = els.get(t.id);
    return t.y + (group ? group.parts.addNote.offsetTop + group.parts.addNote.offsetHeight + 6 : 40);
  }

  // Only what moved is touched: a drop on a 300-card board must not restyle the other 299 (long tasks).
  function place(el, x, y) {
    if (el.placedX === x && el.placedY === y) return;
    el.placedX = x;
    el.placedY = y;
    el.style.transform = `translate(${x}px, ${y}px)`;
  }

  function cardEl(c, locked) {
    let el = els.get(c.id);
    if (!el) {
      el = h('article', { class: 'board-card', 'data-card': c.id, 'data-number': c.number ?? '', lang: c.language, dir: 'auto', tabindex: 0,
        role: 'group', 'aria-roledescription': S.card, 'aria-keyshortcuts': 'Enter ArrowUp ArrowDown ArrowLeft ArrowRight' },
        h('span', { class: 'num' }, c.number ?? '·'), h('p', {}, c.text),
        h('small', {}, [c.kind, c.place, c.month].filter(Boolean).join(' · ')));
      el.addEventListener('pointerdown', (e) => drag(e, c.id));
      el.addEventListener('keydown', (e) => keyMove(e, c.id));
      els.set(c.id, el);
    }
    el.classList.toggle('locked', locked);
    return el;
  }

  // The keyboard's way to do what a drag does (WCAG 2.1.1): arrows nudge a card (Shift: further), Enter or Space
  // opens a list of the groups to move it into.
  function keyMove(e, id) {
    if (e.target !== els.get(id)) return; // keys typed in its group list are the list's
    const s = shown();
    const c = s.cards.get(id);
    if (!c || (guest && s.workshop.locked)) return;
    const step = e.shiftKey ? 80 : 20;
    const delta = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
    if (delta) {
      e.preventDefault();
      const x = Math.max(0, c.x + delta[0]);
      const t = themeAt(x + 20, Math.max(0, c.y + delta[1]) + 20, s.themes);
      // Into a group, below its notes; within one, step by step (pinned there, the up arrow could not leave it).
      const y = Math.max(0, c.y + delta[1], t && t.id !== c.theme_id ? cardsTop(t) : 0);
      op('move', { card_id: id, x, y, theme_id: t ? t.id : null }, ['move', { card_id: id, x: c.x, y: c.y, theme_id: c.theme_id }]);
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      chooseGroup(id);
    }
  }

  function chooseGroup(id) {
    const el = els.get(id);
    const s = shown();
    const c = s.cards.get(id);
    const pick = h('select', { class: 'move-to', 'aria-label': S.moveTo(c.number) },
      h('option', { value: '' }, S.loose),
      [...s.themes.values()].map((t) => h('option', { value: t.id, selected: t.id === c.theme_id }, t.name || S.themeName)));
    // Focus back on the card first: removing the focused list would drop focus to the page.
    const done = () => { el.focus(); pick.remove(); };
    pick.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); done(); } });
    pick.addEventListener('change', () => {
      const now = shown();
      const t = now.themes.get(pick.value);
      const inside = t ? [...now.cards.values()].filter((x) => x.theme_id === t.id && x.id !== id).length : 0;
      const [x, y] = t ? [t.x + 10, cardsTop(t) + 24 * inside] : [c.x, c.y + (c.theme_id ? THEME_H : 0)];
      op('move', { card_id: id, x, y, theme_id: t ? t.id : null }, ['move', { card_id: id, x: c.x, y: c.y, theme_id: c.theme_id }]);
      done();
    });
    pick.addEventListener('blur', () => { if (pick.isConnected) pick.remove(); });
    el.append(pick);
    pick.focus();
  }

  function drag(e, id) {
    const s = shown();
    if (guest && s.workshop.locked) return;
    const c = s.cards.get(id);
    const el = els.get(id);
    if (!c || !el) return;
    e.preventDefault();
    el.focus({ preventScroll: true }); // what preventDefault stopped: a tapped card shows all its words (CSS :focus)
    el.setPointerCapture(e.pointerId);
    const start = { px: e.clientX, py: e.clientY, x: c.x, y: c.y };
    let pos = { x: c.x, y: c.y };
    el.classList.add('dragging');
    let frame = 0;
    const move = (ev) => {
      pos = { x: start.x + ev.clientX - start.px, y: start.y + ev.clientY - start.py };
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; place(el, pos.x, pos.y); });
    };
    const up = () => {
      el.removeEventListener('pointermove', move);
      el.removeEventListener('pointerup', up);
      el.classList.remove('dragging');
      if (pos.x === c.x && pos.y === c.y) return; // a tap to read it: nothing moved, nothing for every board to hear
      const t = themeAt(pos.x + 20, pos.y + 20, s.themes);
      const y = t ? Math.max(pos.y, cardsTop(t)) : pos.y;
      op('move', { card_id: id, x: Math.round(pos.x), y: Math.round(y), theme_id: t ? t.id : null },
        ['move', { card_id: id, x: c.x, y: c.y, theme_id: c.theme_id }]);
    };
    el.addEventListener('pointermove', move);
    el.addEventListener('pointerup', up);
  }

  function themeEl(t) {
    let el = els.get(t.id);
    if (!el) {
      // A box that wraps and grows (CSS field-sizing), not a one-line input: a long name was cut on the projector.
      // Enter names the group, as it did in the input, and leaves the focus where it was; a name is one line.
      const name = h('textarea', { class: 'theme-name', rows: 1, 'aria-label': S.themeName, placeholder: S.themeName, disabled: guest });
      // `name.put` is the name the box last showed or sent: the facilitator has typed only when the box differs
      // from it. Enter, then leaving the box, is one operation; a rename from elsewhere that arrived in between is
      // shown, and leaving the box does not write the older name back over it.
      const rename = () => {
        const cur = shown().themes.get(t.id);
        name.value = name.value.replace(/\s+/g, ' ').trim();
        if (!cur || name.value === name.put) return;
        name.put = name.value;
        op('theme', { theme_id: t.id, name: name.value, x: cur.x, y: cur.y }, ['theme', { ...cur, theme_id: t.id }]);
      };
      name.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); rename(); } });
      name.addEventListener('change', rename);
      const votes = h('button', { class: 'vote', type: 'button', disabled: guest, onclick: () => op('vote', { theme_id: t.id, delta: 1 }, ['vote', { theme_id: t.id, delta: -1 }]) });
      const notes = h('ul', { class: 'theme-notes' });
      const addNote = h('button', { type: 'button', class: 'add-note', onclick: () => noteFor(t.id) }, S.addNote);
      // The facilitator may take a group off the board (its cards and notes stay, loose).
      const remove = guest ? null : h('button', { type: 'button', class: 'remove-theme', onclick: () => {
        const cur = shown().themes.get(t.id);
        if (cur && confirm(S.confirmRemoveTheme(cur.name))) op('theme_remove', { theme_id: t.id }, ['theme', { ...cur, theme_id: t.id }]);
      } }, '×');
      el = h('section', { class: 'board-theme', 'data-theme': t.id }, h('header', {}, name, votes, remove), notes, addNote);
      el.parts = { name, votes, notes, addNote, remove };
      els.set(t.id, el);
    }
    const box = el.parts.name;
    if (document.activeElement !== box || box.value === box.put) { box.value = t.name; box.put = t.name; }
    el.parts.votes.textContent = S.votes(t.votes);
    if (S.voteFor) el.parts.votes.setAttribute('aria-label', S.voteFor(t.name, t.votes));
    if (el.parts.remove) el.parts.remove.setAttribute('aria-label', S.removeTheme(t.name));
    return el;
  }

  // A note on the board or a group. The facilitator can take any note off (one that names a resident, or abuse):
  // it leaves every screen and the board's log keeps no word of it.
  function noteEl(n) {
    const remove = guest ? null : h('button', { type: 'button', class: 'remove-note', 'aria-label': S.removeNote(n.text),
      onclick: () => { if (confirm(S.confirmRemoveNote)) op('note_remove', { note_id: n.id }, ['note', { ...n, note_id: n.id }]); } }, '×');
    return h('li', { class: 'note', 'data-note': n.id }, n.text, remove);
  }

  function noteFor(themeId) {
    const text = prompt(S.notePrompt);
    if (!text || !text.trim()) return;
    const id = newId();
    op('note', { note_id: id, text: text.trim(), theme_id: themeId, x: 20, y: 20 }, ['note_remove', { note_id: id }]);
  }

  function render() {
    if (!server || (stopped && guest)) return;
    const s = shown();
    const keep = new Set();
    for (const t of s.themes.values()) {
      const el = themeEl(t);
      place(el, t.x, t.y);
      el.parts.notes.replaceChildren(...[...s.notes.values()].filter((n) => n.theme_id === t.id).map(noteEl));
      keep.add(t.id);
      if (el.parentNode !== surface) surface.prepend(el);
    }
    for (const c of s.cards.values()) {
      const el = cardEl(c, guest && s.workshop.locked);
      if (!el.classList.contains('dragging')) place(el, c.x, c.y);
      keep.add(c.id);
      if (el.parentNode !== surface) surface.append(el);
    }
    const loose = [...s.notes.values()].filter((n) => !n.theme_id);
    let notesBox = els.get('notes');
    if (!notesBox) { notesBox = h('ul', { class: 'board-notes', id: 'board-notes' }); els.set('notes', notesBox); }
    notesBox.replaceChildren(...loose.map(noteEl));
    keep.add('notes');
    for (const [id, el] of els) if (!keep.has(id)) { el.remove(); els.delete(id); }
    root.classList.toggle('locked', !!s.workshop.locked);
    drawTools(s);
    if (stopped) status.textContent = endedText;
    else if (online) status.textContent = queue.length ? S.sending(queue.length) : refusedNotice;
  }

  function drawTools(s) {
    const kids = [h('button', { type: 'button', id: 'board-add-note', onclick: () => noteFor(null) }, S.addBoardNote)];
    if (!guest) {
      kids.unshift(h('button', { type: 'button', id: 'board-add-theme', onclick: () => {
        const n = s.themes.size;
        const id = newId();
        op('theme', { theme_id: id, name: '', x: 20 + (n % 6) * (THEME_W + 20), y: 20 }, ['theme_remove', { theme_id: id }]);
      } }, S.addTheme));
      kids.push(h('button', { type: 'button', id: 'board-undo', disabled: !undo.length, onclick: () => {
        const [kind, data] = undo.pop();
        op(kind, data);
      } }, S.undo));
      kids.push(h('button', { type: 'button', id: 'board-lock', 'aria-pressed': String(!!s.workshop.locked),
        onclick: () => op('lock', { locked: !s.workshop.locked }) }, s.workshop.locked ? S.unlock : S.lock));
      kids.push(h('button', { type: 'button', id: 'board-layout', onclick: () => layout(s) }, S.spread));
      // Who joined by code; the facilitator can take someone off the board (their token stops at once).
      kids.push(h('ul', { class: 'board-guests', id: 'board-guests', 'aria-label': S.guests },
        (server.guests || []).map((g) => h('li', {}, g.name || S.anonymous, ' ', h('button', { type: 'button',
          class: 'remove-guest', 'data-guest': g.id, onclick: async () => {
            await fetch(`${base.replace(/\/board$/, '')}/guests/${g.id}`, { method: 'DELETE', headers: headers() });
            server.guests = server.guests.filter((x) => x.id !== g.id);
            render();
          } }, S.removeGuest)))));
    }
    kids.push(els.get('notes'));
    toolbar.replaceChildren(...kids);
  }

  // Lay unplaced cards out in rows under the themes (cards all at 0,0 when the board first opens).
  function layout(s) {
    const perRow = Math.max(1, Math.floor((surface.clientWidth || 1200) / (CARD_W + 12)));
    [...s.cards.values()].filter((c) => !c.theme_id).forEach((c, i) => {
      queue.push({ id: newId(), kind: 'move', data: { card_id: c.id, x: 12 + (i % perRow) * (CARD_W + 12), y: THEME_H + 60 + Math.floor(i / perRow) * 150, theme_id: null } });
    });
    saveQueue();
    render();
    flush();
  }

  return {
    root,
    async start() {
      await load();
      render();
      if (![...server.cards.values()].some((c) => c.x || c.y) && !guest) layout(shown());
      flush();
      follow();
      window.addEventListener('online', flush);
      if (!guest) {
        setInterval(async () => { // who has joined since (the board itself comes by events)
          const res = await fetch(base, { headers: headers(), cache: 'no-store' }).catch(() => null);
          if (res && res.ok) { server.guests = (await res.json()).guests; drawTools(shown()); }
        }, 10000);
      }
    },
    stop() { stopped = true; },
    state: () => (server ? shown() : null),
    // The same operation a drag ends with (scripts/bench_workshops.py times how fast other screens see it).
    moveCard: (id, x, y, themeId = null) => op('move', { card_id: id, x, y, theme_id: themeId }),
    pending: () => queue.length,
  };
}
