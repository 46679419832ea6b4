// Unit tests of the local store (db.js) and the sync engine (outbox.js), run inside real Chromium.
// Each test uses its own database; the fake API stands in for the server so every answer can be chosen.

import { openDB, DB_VERSION, uuid } from '/app/src/db.js';
import { createOutbox, backoffDelay, MAX_DELAY_MS } from '/app/src/outbox.js';
import { ApiError } from '/app/src/api.js';

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

function assert(cond, msg) {
  if (!cond) throw new Error(msg || 'assertion failed');
}
function eq(got, want, msg) {
  const a = JSON.stringify(got);
  const b = JSON.stringify(want);
  if (a !== b) throw new Error(`${msg ? `${msg}: ` : ''}expected ${b}, got ${a}`);
}

let n = 0;
const dbName = () => `unit-${Date.now()}-${++n}`;

// A conversation, one consent under it and `k` fragments under that, in capture order.
async function seed(db, k, owner = 'u1') {
  const conv = await db.addRecord('conversation', { project_id: 'p1', prompt_ids: [], started_at: '2026-11-23T10:00:00+00:00' }, owner);
  const consent = await db.addRecord('consent', {
    conversation_id: conv.id, participant_label: 'P-AAAA', consent_form_id: 'f1', scopes: ['quote'],
    method: 'verbal', given_at: '2026-11-23T10:01:00+00:00',
  }, owner);
  const frags = [];
  for (let i = 0; i < k; i++) {
    frags.push({ type: 'fragment', owner, data: {
      conversation_id: conv.id, consent_id: consent.id, kind: 'paraphrase', text: `fragment ${i}`,
      language: 'en', captured_at: '2026-11-23T10:02:00+00:00', sensitive: false,
    } });
  }
  return { conv, consent, frags: await db.addRecords(frags) };
}

// A stand-in for api.js: `answer(items, call)` returns the response or throws an ApiError.
function fakeApi(answer) {
  const calls = [];
  return {
    calls,
    sync: async (deviceId, items) => {
      calls.push(items.map((i) => i.id));
      return answer(items, calls.length);
    },
  };
}
const accept = (items) => ({ results: items.map((i) => ({ id: i.id, type: i.type, status: 'created' })), server_time: '' });

function fakeTimers() {
  const t = { delays: [], setTimeout: (fn, ms) => { t.delays.push(ms); return t.delays.length; }, clearTimeout: () => {} };
  return t;
}

function outboxFor(db, api, extra = {}) {
  return createOutbox({ db, api, deviceId: () => 'device-1', getOwner: () => 'u1', timers: fakeTimers(), ...extra });
}

// ---- db.js ----------------------------------------------------------------------------------------

test('records survive closing and reopening the database', async () => {
  const name = dbName();
  let db = await openDB(name);
  const { frags } = await seed(db, 3);
  db.close();
  db = await openDB(name);
  eq(await db.counts(), { local: 5, synced: 0, attention: 0 });
  eq((await db.getRecord(frags[2].id)).data.text, 'fragment 2');
  db.close();
});

test('records keep the order they were made in, parents first', async () => {
  const db = await openDB(dbName());
  const { conv, consent, frags } = await seed(db, 4);
  const order = (await db.byState('local')).map((r) => r.id);
  eq(order, [conv.id, consent.id, ...frags.map((f) => f.id)]);
  assert(frags.every((f) => f.state === 'local' && f.conv === conv.id), 'new records are local, grouped by conversation');
  db.close();
});

test('upgrading a version 1 database keeps and migrates queued records', async () => {
  const name = dbName();
  // Build the version 1 layout by hand, as an older app would have left it.
  await new Promise((resolve, reject) => {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => {
      const idb = open.result;
      const records = idb.createObjectStore('records', { keyPath: 'id' });
      records.createIndex('by_state_seq', ['state', 'seq']);
      idb.createObjectStore('kv', { keyPath: 'key' });
      const tx = open.transaction;
      tx.objectStore('kv').put({ key: 'seq', value: 2 });
      tx.objectStore('kv').put({ key: 'session', value: { token: 'old-token', user: { id: 'u1' } } });
      records.put({ id: 'c-1', type: 'conversation', data: { project_id: 'p1', prompt_ids: [], started_at: 'x' }, state: 'local', seq: 1, owner: 'u1' });
      records.put({ id: 'f-1', type: 'fragment', data: { conversation_id: 'c-1', consent_id: 'k-1', text: 't' }, state: 'local', seq: 2, owner: 'u1' });
    };
    open.onsuccess = () => { open.result.close(); resolve(); };
    open.onerror = () => reject(open.error);
  });
  assert(DB_VERSION >= 2, 'the current schema is newer than version 1');
  const db = await openDB(name);
  eq(await db.counts(), { local: 2, synced: 0, attention: 0 }, 'queued records are all still there');
  eq((await db.recordsOfConversation('c-1')).map((r) => r.id), ['c-1', 'f-1'], 'records were given their conversation');
  eq((await db.getKV('session')).token, 'old-token', 'the session survived');
  const added = await db.addRecord('fragment', { conversation_id: 'c-1', consent_id: 'k-1', text: 'new' }, 'u1');
  eq(added.seq, 3, 'the sequence continues after the migrated records');
  db.close();
});

test('only created and duplicate receipts take a record out of the outbox', async () => {
  const db = await openDB(dbName());
  const { frags } = await seed(db, 5);
  const applied = await db.applyReceipts([
    { id: frags[0].id, status: 'created' },
    { id: frags[1].id, status: 'duplicate' },
    { id: frags[2].id, status: 'conflict', code: 'conflict', detail: 'same id, other content' },
    { id: frags[3].id, status: 'rejected', code: 'scope_missing', detail: 'needs quote scope' },
    { id: frags[4].id, status: 'mystery' },
    { id: 'not-on-this-phone', status: 'created' },
  ]);
  eq(applied, 4);
  eq((await db.getRecord(frags[0].id)).state, 'synced');
  eq((await db.getRecord(frags[1].id)).state, 'synced');
  eq((await db.getRecord(frags[2].id)).error, { status: 'conflict', code: 'conflict', detail: 'same id, other content' });
  eq((await db.getRecord(frags[3].id)).state, 'attention');
  eq((await db.getRecord(frags[4].id)).state, 'local', 'an unknown status changes nothing');
  eq(await db.counts(), { local: 3, synced: 2, attention: 2 });
  db.close();
});

test('a synced record is never put back or changed by a late receipt', async () => {
  const db = await openDB(dbName());
  const { frags } = await seed(db, 1);
  await db.applyReceipts([{ id: frags[0].id, status: 'created' }]);
  await db.applyReceipts([{ id: frags[0].id, status: 'rejected', detail: 'late' }]);
  eq((await db.getRecord(frags[0].id)).state, 'synced');
  db.close();
});

test('upgrading a version 2 database keeps every queued record and adds the clips store', async () => {
  const name = dbName();
  await new Promise((resolve, reject) => {
    const open = indexedDB.open(name, 2);
    open.onupgradeneeded = () => {
      const idb = open.result;
      const records = idb.createObjectStore('records', { keyPath: 'id' });
      records.createIndex('by_state_seq', ['state', 'seq']);
      records.createIndex('by_conv', 'conv');
      idb.createObjectStore('kv', { keyPath: 'key' });
      const tx = open.transaction;
      tx.objectStore('kv').put({ key: 'seq', value: 2 });
      records.put({ id: 'c-2', type: 'conversation', data: { project_id: 'p1', prompt_ids: [], started_at: 'x' }, state: 'local', seq: 1, owner: 'u1', conv: 'c-2' });
      records.put({ id: 'f-2', type: 'fragment', data: { conversation_id: 'c-2', consent_id: 'k-1', text: 't' }, state: 'attention', seq: 2, owner: 'u1', conv: 'c-2' });
    };
    open.onsuccess = () => { open.result.close(); resolve(); };
    open.onerror = () => reject(open.error);
  });
  eq(DB_VERSION, 3, 'version 3 adds audio clips');
  const db = await openDB(name);
  eq(await db.counts(), { local: 1, synced: 0, attention: 1 }, 'queued records are all still there');
  eq(await db.allClips(), [], 'an empty clips store');
  const blob = new Blob([new Uint8Array(1000)], { type: 'audio/webm' });
  const f = await db.addRecord('fragment', { conversation_id: 'c-2', consent_id: 'k-1', text: 'with a clip' }, 'u1', undefined, { blob, type: 'audio/webm', duration_ms: 1200 });
  const clip = await db.getClip(f.id);
  eq([clip.state, clip.size, clip.duration_ms, (await clip.blob.arrayBuffer()).byteLength], ['local', 1000, 1200, 1000], 'the clip is stored with its fragment');
  eq((await db.clipCounts()).bytes, 1000, 'the clip counts in storage');
  await db.updateClip(f.id, { state: 'done', sha256: 'ab' });
  const done = await db.getClip(f.id);
  eq([done.blob, done.sha256, (await db.clipCounts()).bytes], [null, 'ab', 0], 'once on the server the phone lets the bytes go');
  db.close();
});

test('clips go up only after their fragment is on the server; a 4xx needs attention, a 5xx waits', async () => {
  const db = await openDB(dbName());
  const { conv, consent } = await seed(db, 0);
  const blob = new Blob([new Uint8Array(10)], { type: 'audio/webm' });
  const [a, b] = await db.addRecords([1, 2].map((i) => ({ type: 'fragment', owner: 'u1', clip: { blob }, data: {
    conversation_id: conv.id, consent_id: consent.id, kind: 'paraphrase', text: `clip ${i}`,
  } })));
  const sentClips = [];
  let answer = () => {};
  const uploader = { upload: async (clip) => { sentClips.push(clip.id); answer(clip); } };
  let synced = false;
  const api = fakeApi((items) => {
    if (!synced) throw new ApiError(0, 'network', 'offline');
    return accept(items);
  });
  const timers = fakeTimers();
  const ob = outboxFor(db, api, { uploader, timers });
  await ob.sync();
  eq(sentClips, [], 'no clip before its fragment is on the server');
  synced = true;
  answer = (clip) => {
    if (clip.id === a.id) throw new ApiError(415, 'not_audio', 'not audio we recognise');
    throw new ApiError(503, 'storage_unavailable', 'later', 30);
  };
  await ob.sync();
  eq(sentClips, [a.id, b.id], 'both clips tried after the receipts');
  const ca = await db.getClip(a.id);
  eq([ca.state, ca.error.code, ca.error.detail], ['attention', 'not_audio', 'not audio we recognise'], '4xx: needs attention with the reason');
  eq((await db.getClip(b.id)).state, 'local', '5xx: still on the phone');
  eq(timers.delays[timers.delays.length - 1], 30000, 'Retry-After is honoured');
  answer = () => {};
  await ob.sync();
  eq([(await db.getClip(b.id)).state, (await db.getClip(a.id)).state], ['done', 'attention'], 'the waiting clip went; the refused one waits for the researcher');
  db.close();
});

test('retry puts a refused record back with corrected data; discard works only on refused records', async () => {
  const db = await openDB(dbName());
  const { frags } = await seed(db, 2);
  eq(await db.discard(frags[1].id), false, 'a queued record cannot be discarded');
  await db.applyReceipts([{ id: frags[0].id, status: 'rejected', detail: 'no' }, { id: frags[1].id, status: 'rejected', detail: 'no' }]);
  eq(await db.retry(frags[0].id, { ...frags[0].data, text: 'fixed' }), frags[0].id);
  const fixed = await db.getRecord(frags[0].id);
  eq([fixed.state, fixed.error, fixed.data.text], ['local', null, 'fixed']);
  eq(await db.discard(frags[1].id), true);
  eq(await db.getRecord(frags[1].id), undefined);
  db.close();
});

test('a fragment in conflict goes again under a new id, keeping its place in the queue', async () => {
  const db = await openDB(dbName());
  const { frags } = await seed(db, 2);
  await db.applyReceipts([{ id: frags[0].id, status: 'conflict', detail: 'same id, other content' }]);
  const newId = await db.retry(frags[0].id);
  assert(newId && newId !== frags[0].id, 'a new id');
  eq(await db.getRecord(frags[0].id), undefined);
  const again = await db.getRecord(newId);
  eq([again.state, again.seq, again.data.text], ['local', frags[0].seq, 'fragment 0']);
  db.close();
});

test('a fragment whose id is unavailable on the server goes again under a new id', async () => {
  const db = await openDB(dbName());
  const { frags } = await seed(db, 1);
  await db.applyReceipts([{ id: frags[0].id, status: 'rejected', code: 'id_unavailable', detail: 'taken' }]);
  const newId = await db.retry(frags[0].id);
  assert(newId && newId !== frags[0].id, 'a new id');
  eq((await db.getRecord(newId)).state, 'local');
  db.close();
});

test('export and import move every record to another phone without doubling', async () => {
  const a = await openDB(dbName());
  const { frags } = await seed(a, 3);
  await a.applyReceipts([{ id: frags[0].id, status: 'created' }, { id: frags[1].id, status: 'rejected', detail: 'x' }]);
  const dump = JSON.parse(JSON.stringify(await a.exportAll('device-a')));
  eq(dump.records.length, 5);
  const b = await openDB(dbName());
  await b.addRecord('conversation', { project_id: 'p2', prompt_ids: [], started_at: 'x' }, 'u1');
  eq(await b.importRecords(dump), { added: 5, skipped: 0 });
  eq(await b.importRecords(dump), { added: 0, skipped: 5 }, 'importing twice adds nothing');
  eq(await b.counts(), { local: 5, synced: 1, attention: 0 }, 'refused records are queued again, synced stay synced');
  const order = (await b.byState('local')).map((r) => r.id);
  eq(order.slice(1), dump.records.filter((r) => r.state !== 'synced').map((r) => r.id), 'parents still come first');
  let threw = false;
  try { await b.importRecords({ hello: 1 }); } catch { threw = true; }
  assert(threw, 'a file that is not an export is refused');
  a.close();
  b.close();
});

test('uuid makes time-ordered version 7 UUIDs: the time in its first 48 bits, then random bits', async () => {
  const ids = Array.from({ length: 200 }, () => uuid());
  eq(new Set(ids).size, 200);
  for (const id of ids) assert(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id), id);
  const made = Date.parse('2026-11-30T12:00:00.123Z');
  const id = uuid(made);
  eq(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), made, 'the first 48 bits are the milliseconds');
  // Made later sorts later (as the server's indexes compare them), whatever the random bits.
  const later = Array.from({ length: 50 }, (_, i) => uuid(made + i));
  eq([...later].sort(), later);
  assert(uuid(made) !== uuid(made), 'two ids in the same millisecond differ');
});

// ---- outbox.js ------------------------------------------------------------------------------------

test('sync sends in batches, parents first, and empties the outbox on receipts', async () => {
  const db = await openDB(dbName());
  const { conv, consent } = await seed(db, 7);
  const api = fakeApi(accept);
  await outboxFor(db, api, { batchItems: 4 }).sync();
  eq(api.calls.length, 3);
  eq(api.calls[0].slice(0, 2), [conv.id, consent.id]);
  eq(await db.counts(), { local: 0, synced: 9, attention: 0 });
  db.close();
});

test('records without a receipt stay in the outbox', async () => {
  const db = await openDB(dbName());
  await seed(db, 4);
  const api = fakeApi((items, call) => (call === 1 ? { results: accept(items).results.slice(0, 3) } : { results: [] }));
  const ob = outboxFor(db, api);
  await ob.sync();
  eq(await db.counts(), { local: 3, synced: 3, attention: 0 });
  eq(api.calls[1].length, 3, 'the rest went again');
  assert(ob.state.timer, 'an answer without receipts is retried later');
  db.close();
});

test('a network failure keeps everything and backs off', async () => {
  const db = await openDB(dbName());
  await seed(db, 2);
  const timers = fakeTimers();
  const api = fakeApi(() => { throw new ApiError(0, 'network', 'Failed to fetch'); });
  const ob = outboxFor(db, api, { timers });
  await ob.sync();
  await ob.sync();
  eq(await db.counts(), { local: 4, synced: 0, attention: 0 });
  eq(timers.delays.length, 2);
  assert(timers.delays[1] >= timers.delays[0] * 0.9 || timers.delays[1] >= 1000, 'the delay grows');
  db.close();
});

test('server errors (5xx) are retried later, never dropped', async () => {
  const db = await openDB(dbName());
  await seed(db, 2);
  let fail = true;
  const api = fakeApi((items) => { if (fail) throw new ApiError(503, 'unavailable', 'busy'); return accept(items); });
  const ob = outboxFor(db, api);
  await ob.sync();
  eq((await db.counts()).local, 4);
  assert(ob.state.nextAt > Date.now(), 'a retry is scheduled');
  fail = false;
  await ob.sync();
  eq(await db.counts(), { local: 0, synced: 4, attention: 0 });
  eq(ob.state.attempt, 0, 'success resets the backoff');
  db.close();
});

test('backoff grows exponentially and is capped at five minutes', async () => {
  const mid = () => 0.5;
  eq([0, 1, 2, 3].map((a) => backoffDelay(a, mid)), [750, 1500, 3000, 6000]);
  eq(backoffDelay(30, () => 1), MAX_DELAY_MS);
  eq(MAX_DELAY_MS, 300000);
  for (let a = 0; a < 40; a++) assert(backoffDelay(a) <= MAX_DELAY_MS);
});

test('Retry-After from the server sets the next attempt', async () => {
  const db = await openDB(dbName());
  await seed(db, 1);
  const timers = fakeTimers();
  const api = fakeApi(() => { throw new ApiError(429, 'too_many', 'slow down', 42); });
  await outboxFor(db, api, { timers }).sync();
  eq(timers.delays, [42000]);
  db.close();
});

test('an ended login (401) keeps the queue, stops, and resumes after a new login', async () => {
  const db = await openDB(dbName());
  await seed(db, 3);
  let token = 'old';
  const api = fakeApi((items) => { if (token === 'old') throw new ApiError(401, 'token_expired', 'expired'); return accept(items); });
  const ob = outboxFor(db, api);
  await ob.sync();
  assert(ob.state.authNeeded, 'asks for a login');
  await ob.sync();
  eq(api.calls.length, 1, 'does not hammer the server while logged out');
  eq((await db.counts()).local, 5);
  token = 'new';
  await ob.resume();
  eq(await db.counts(), { local: 0, synced: 5, attention: 0 });
  db.close();
});

test('per-item rejections go to needs attention and hold back their children', async () => {
  const db = await openDB(dbName());
  const { consent, frags } = await seed(db, 3);
  const api = fakeApi((items) => ({
    results: items.map((i) => (i.id === consent.id
      ? { id: i.id, status: 'rejected', code: 'consent_form_not_current', detail: 'old form' }
      : i.type === 'fragment' ? { id: i.id, status: 'rejected', code: 'parent_rejected', detail: 'parent' }
        : { id: i.id, status: 'created' })),
  }));
  await outboxFor(db, api, { batchItems: 2 }).sync();
  eq(api.calls.length, 1, 'children of a refused parent wait instead of being sent');
  eq((await db.getRecord(consent.id)).error.code, 'consent_form_not_current');
  eq((await db.getRecord(frags[0].id)).state, 'local');
  db.close();
});

test('a request refused as a whole is split to find the one bad record', async () => {
  const db = await openDB(dbName());
  const { frags } = await seed(db, 4);
  const bad = frags[2].id;
  const api = fakeApi((items) => {
    if (items.some((i) => i.id === bad)) throw new ApiError(422, 'validation_error', 'Check these fields: text.');
    return accept(items);
  });
  await outboxFor(db, api).sync();
  eq(await db.counts(), { local: 0, synced: 5, attention: 1 });
  eq((await db.getRecord(bad)).error.detail, 'Check these fields: text.');
  db.close();
});

test('a batch too large (413) is halved and sent again', async () => {
  const db = await openDB(dbName());
  await seed(db, 8);
  const api = fakeApi((items) => { if (items.length > 3) throw new ApiError(413, 'batch_too_large', 'too big'); return accept(items); });
  await outboxFor(db, api).sync();
  eq(await db.counts(), { local: 0, synced: 10, attention: 0 });
  eq(api.calls.map((c) => c.length).slice(0, 3), [10, 5, 2]);
  db.close();
});

test('batches stay under the byte limit', async () => {
  const db = await openDB(dbName());
  const { conv, consent } = await seed(db, 0);
  await db.addRecords(Array.from({ length: 6 }, () => ({ type: 'fragment', owner: 'u1', data: {
    conversation_id: conv.id, consent_id: consent.id, kind: 'paraphrase', text: 'x'.repeat(4000),
    language: 'en', captured_at: 'x', sensitive: false } })));
  const sizes = [];
  const api = fakeApi((items) => { sizes.push(JSON.stringify(items).length); return accept(items); });
  await outboxFor(db, api, { batchBytes: 9000 }).sync();
  assert(sizes.every((s) => s <= 9000), `batch sizes ${sizes}`);
  eq((await db.counts()).synced, 8);
  db.close();
});

test('concurrent sync calls share one run and send nothing twice', async () => {
  const db = await openDB(dbName());
  await seed(db, 5);
  const api = fakeApi(async (items) => { await new Promise((r) => setTimeout(r, 30)); return accept(items); });
  const ob = outboxFor(db, api);
  await Promise.all([ob.sync(), ob.sync(), ob.sync()]);
  const sent = api.calls.flat();
  eq(sent.length, new Set(sent).size);
  eq(sent.length, 7);
  db.close();
});

test('records of another researcher wait for them to log in', async () => {
  const db = await openDB(dbName());
  await seed(db, 1, 'someone-else');
  const mine = await seed(db, 1, 'u1');
  const api = fakeApi(accept);
  await outboxFor(db, api).sync();
  eq(api.calls.flat(), [mine.conv.id, mine.consent.id, mine.frags[0].id]);
  eq((await db.counts()).local, 3);
  db.close();
});

test('while a batch is in flight its records show as sending', async () => {
  const db = await openDB(dbName());
  const { frags } = await seed(db, 1);
  let seen = null;
  let ob;
  const api = fakeApi((items) => { seen = [...ob.state.sending]; return accept(items); });
  ob = outboxFor(db, api);
  await ob.sync();
  assert(seen.includes(frags[0].id), 'sending during the request');
  eq(ob.state.sending.size, 0, 'not sending afterwards');
  db.close();
});

export const names = () => tests.map(([name]) => name);

export async function run() {
  const results = {};
  for (const [name, fn] of tests) {
    try {
      await fn();
      results[name] = 'ok';
    } catch (err) {
      results[name] = String((err && err.stack) || err);
    }
  }
  return results;
}
