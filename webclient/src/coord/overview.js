// The project at a glance: fragments per place, prompt and tag week by week (SVG drawn here, each chart with its
// numbers as a table), totals, researchers' activity, devices gone quiet, and what expires soon.

import { go } from '../app.js';
import { field, fmtDateTime, h } from '../dom.js';
import { C } from './strings.js';
import { api, fmtDate, problem, table, tableBox } from './ui.js';

const PALETTE = ['#1d5c8f', '#b34700', '#2f6b2f', '#8a2f8a', '#7a6a00', '#9c2f4b', '#2a7a7a', '#3b3b8a', '#555555'];
// Colour is not the only cue: each line also has its own dash pattern and marker shape.
const DASHES = ['', '6 3', '2 3', '10 3 2 3', '1 5', '8 6'];
const SHAPES = ['circle', 'square', 'diamond', 'triangle'];
const MAX_SERIES = 8;

const NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined) el.append(kid);
  return el;
}

// The chart scales with its box, and its text with it: each time the box changes size the axis text is set
// back to 12 px on the screen (in the chart's own units that is 12 × viewBox width / drawn width).
const legible = new ResizeObserver((entries) => {
  for (const { target } of entries) {
    const drawn = target.getBoundingClientRect().width;
    if (drawn > 0) target.style.setProperty('--axis-font', `${(12 * target.viewBox.baseVal.width) / drawn}px`);
  }
});

const weekLabel = (iso) => new Date(`${iso}T12:00:00`).toLocaleDateString([], { day: 'numeric', month: 'short' });

// The axis top is four steps of 1, 2 or 5 × 10^n, so every tick is a round number.
function niceMax(v) {
  const raw = Math.max(1, v / 4);
  const p = 10 ** Math.floor(Math.log10(raw));
  return 4 * [1, 2, 5, 10].map((m) => m * p).find((m) => m >= raw);
}

// Many series: the largest ones keep their own line and the rest add up to "Others".
function fold(series) {
  const total = (x) => x.counts.reduce((a, b) => a + b, 0);
  if (series.length <= MAX_SERIES) return series;
  const byTotal = [...series].sort((a, b) => total(b) - total(a));
  const rest = byTotal.slice(MAX_SERIES - 1);
  return [...byTotal.slice(0, MAX_SERIES - 1),
    { id: 'other', name: C.o.other, counts: rest[0].counts.map((_, k) => rest.reduce((a, x) => a + x.counts[k], 0)) }];
}

function marker(shape, x, y, colour) {
  const a = { fill: colour, stroke: '#fff', 'stroke-width': 1 };
  if (shape === 'square') return s('rect', { ...a, x: x - 3.5, y: y - 3.5, width: 7, height: 7 });
  if (shape === 'diamond') return s('path', { ...a, d: `M${x} ${y - 5}L${x + 5} ${y}L${x} ${y + 5}L${x - 5} ${y}Z` });
  if (shape === 'triangle') return s('path', { ...a, d: `M${x} ${y - 5}L${x + 5} ${y + 4}L${x - 5} ${y + 4}Z` });
  return s('circle', { ...a, cx: x, cy: y, r: 4 });
}

// A chart of weekly counts: lines, or bars stacked per week; a legend; the numbers in a table under <details>.
export function chart(id, title, weeks, raw, { stacked = false, colours = false } = {}) {
  const series = fold(raw).map((x, k) => ({
    ...x, colour: (colours && x.colour) || PALETTE[k % PALETTE.length], dash: DASHES[k % DASHES.length], shape: SHAPES[k % SHAPES.length],
  }));
  const head = h('h2', { id: `${id}-h` }, title);
  if (!series.length || !weeks.length) return h('section', { class: 'chart', id }, head, h('p', {}, C.o.noData));
  const W = 720; const H = 260; const left = 52; const right = 12; const top = 12; const bottom = 38;
  const n = weeks.length;
  const sums = weeks.map((_, k) => series.reduce((a, x) => a + x.counts[k], 0));
  const max = niceMax(stacked ? Math.max(...sums) : Math.max(...series.flatMap((x) => x.counts)));
  const band = (W - left - right) / n;
  const x = (k) => left + band * (k + 0.5);
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const ticks = [0, 1, 2, 3, 4].map((k) => (max / 4) * k);
  const every = Math.ceil(n / 8);
  const axes = s('g', { class: 'axes' },
    ticks.map((t) => s('g', {}, s('line', { x1: left, x2: W - right, y1: y(t), y2: y(t), class: 'grid' }),
      s('text', { x: left - 6, y: y(t) + 4, 'text-anchor': 'end' }, String(t)))),
    weeks.map((w, k) => (k % every ? null : s('text', { x: x(k), y: H - bottom + 18, 'text-anchor': 'middle' }, weekLabel(w)))),
    s('line', { x1: left, x2: W - right, y1: y(0), y2: y(0), class: 'axis' }));
  let marks;
  if (stacked) {
    const base = weeks.map(() => 0);
    marks = series.map((ser) => s('g', { class: 'series', 'data-series': ser.name, fill: ser.colour },
      ser.counts.map((c, k) => {
        const y0 = base[k];
        base[k] += c;
        return c ? s('rect', { x: x(k) - band * 0.35, width: band * 0.7, y: y(y0 + c), height: y(y0) - y(y0 + c),
          stroke: '#fff', 'stroke-width': 1 }, s('title', {}, `${ser.name}, ${weekLabel(weeks[k])}: ${c}`)) : null;
      })));
  } else {
    marks = series.map((ser) => s('g', { class: 'series', 'data-series': ser.name },
      s('polyline', { points: ser.counts.map((c, k) => `${x(k)},${y(c)}`).join(' '), fill: 'none', stroke: ser.colour,
        'stroke-width': 2.5, 'stroke-dasharray': ser.dash || null }),
      ser.counts.map((c, k) => marker(ser.shape, x(k), y(c), ser.colour))));
  }
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${id}-t`, class: 'chart-svg' },
    s('title', { id: `${id}-t` }, C.o.chartLabel(title, series.length, n)), axes, marks);
  legible.observe(svg);
  const legend = h('ul', { class: 'legend', 'aria-hidden': 'true' }, series.map((ser) => h('li', {},
    s('svg', { width: 34, height: 12, viewBox: '0 0 34 12' }, stacked
      ? s('rect', { x: 4, y: 1, width: 26, height: 10, fill: ser.colour })
      : [s('line', { x1: 0, x2: 34, y1: 6, y2: 6, stroke: ser.colour, 'stroke-width': 2.5, 'stroke-dasharray': ser.dash || null }),
        marker(ser.shape, 17, 6, ser.colour)]),
    h('span', { title: ser.name }, ser.name))));
  const numbers = h('details', { class: 'numbers' }, h('summary', {}, C.o.numbers),
    tableBox(title, h('table', {},
      h('caption', {}, title),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, C.o.series),
        weeks.map((w) => h('th', { scope: 'col' }, weekLabel(w))))),
      h('tbody', {}, series.map((ser) => h('tr', {}, h('th', { scope: 'row' }, ser.name),
        ser.counts.map((c) => h('td', {}, String(c)))))))));
  return h('section', { class: 'chart', id, 'aria-labelledby': head.id }, head, svg, legend, numbers);
}

export async function page(ctx) {
  const pid = ctx.project.id;
  const weeks = ['4', '12', '26', '52'].includes(ctx.query.get('weeks')) ? ctx.query.get('weeks') : '12';
  let o;
  try {
    o = await api('GET', `/projects/${pid}/overview?weeks=${weeks}`);
  } catch (err) {
    return h('div', {}, h('h1', {}, C.o.title), problem(err));
  }
  let tagColours = new Map();
  try {
    tagColours = new Map((await api('GET', `/projects/${pid}/tags`)).map((t) => [t.id, t.colour]));
  } catch { /* the chart falls back to its own palette */ }
  const picker = h('select', { onchange: (e) => go(ctx.href('overview', `?weeks=${e.target.value}`)) },
    ['4', '12', '26', '52'].map((w) => h('option', { value: w, selected: w === weeks }, w)));
  const t = o.totals;
  const e = o.expiring;
  const when = (iso) => (iso ? fmtDateTime(iso) : C.o.never);
  return h('div', { id: 'overview' },
    h('div', { class: 'overview-head' }, h('h1', {}, C.o.title), field(C.o.weeks, picker)),
    h('section', { 'aria-labelledby': 'totals-h' }, h('h2', { id: 'totals-h', class: 'visually-hidden' }, C.o.totals),
      h('ul', { class: 'totals' }, Object.keys(C.o.total).map((k) => h('li', { 'data-total': k },
        h('strong', {}, String(t[k] ?? 0)), ' ', C.o.total[k])))),
    h('section', { 'aria-labelledby': 'expiring-h', id: 'expiring' }, h('h2', { id: 'expiring-h' }, C.o.expiring),
      h('p', { class: e.fragments || e.signatures ? 'notice warn' : 'notice' },
        e.fragments || e.signatures ? C.o.expiringText(e, e.first_at && fmtDate(e.first_at)) : C.o.nothingExpires)),
    h('div', { class: 'charts' },
      chart('chart-place', C.o.perPlace, o.weeks, o.per_place),
      chart('chart-prompt', C.o.perPrompt, o.weeks, o.per_prompt),
      chart('chart-tag', C.o.perTag, o.weeks, o.per_tag.map((x) => ({ ...x, colour: tagColours.get(x.id) })),
        { stacked: true, colours: true })),
    h('section', { 'aria-labelledby': 'researchers-h' }, h('h2', { id: 'researchers-h' }, C.o.researchers),
      table([[C.o.researcher, (r) => r.display_name || r.email], [C.o.fragments, (r) => String(r.fragments)],
        [C.o.lastCaptured, (r) => when(r.last_captured_at)], [C.o.lastSync, (r) => when(r.last_sync_at)]],
      o.researchers, { id: 'researchers' })),
    h('section', { 'aria-labelledby': 'stale-h' }, h('h2', { id: 'stale-h' }, C.o.stale),
      o.stale_devices.length
        ? table([[C.o.researcher, (d) => d.display_name], [C.o.device, (d) => d.device_label || ''],
          [C.o.lastSync, (d) => when(d.last_sync_at)]], o.stale_devices, { id: 'stale-devices' })
        : h('p', {}, C.o.noStale),
      h('p', {}, h('a', { href: ctx.href('people') }, C.o.people))));
}
