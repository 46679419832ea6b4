// The only module that touches IndexedDB. Records made on this phone live in `records`, keyed by the
// UUID made here, until (and after) the server's receipt; `kv` holds the session, capture kits and
// small settings. Every function opens its own transaction and finishes it before returning: callers
// never hold a transaction open across a network request.

export const DB_NAME = 'hearken';
export const DB_VERSION = 3;

// STEPS[v] upgrades a database at version v-1 to version v. Steps only add or migrate;
// they never drop a store, because a store may hold records the server has not confirmed.
const STEPS = [
  null,
  (db) => {
    const records = db.createObjectStore('records', { keyPath: 'id' });
    records.createIndex('by_state_seq', ['state', 'seq']);
    db.createObjectStore('kv', { keyPath: 'key' });
  },
  // v2: a conversation screen reads only its own records, so index every record by its conversation.
  (db, tx) => {
    const records = tx.objectStore('records');
    records.createIndex('by_conv', 'conv');
    records.openCursor().onsuccess = (e) => {
      const cursor = e.target.result;
      if (!cursor) return;
      const rec = cursor.value;
      if (!rec.conv) {
        rec.conv = convOf(rec.type, rec.id, rec.data);
        cursor.update(rec);
      }
      cursor.continue();
    };
  },
  // v3: audio clips, keyed by their fragment's id. Records are untouched.
  (db) => {
    db.createObjectStore('clips', { keyPath: 'id' });
  },
];

export const STATES = ['local', 'synced', 'attention'];
const TYPES = ['conversation', 'consent', 'fragment'];

function convOf(type, id, data) {
  return type === 'conversation' ? id : (data && data.conversation_id) || '';
}

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function finished(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new DOMException('transaction aborted', 'AbortError'));
  });
}

// Ids are time-ordered (UUIDv7, RFC 9562): the milliseconds since 1970, then 74 random bits. Records made one
// after another land side by side in the server's id indexes, so a database of a million fragments takes a phone's
// batch as fast as an empty one; random (v4) ids touched a page of each index per record and halved that rate
// (scripts/bench_scale.py). The time in an id is when the record was made, which the record says anyway.
// getRandomValues, unlike randomUUID, works outside a secure context too.
export function uuid(now = Date.now()) {
  const b = crypto.getRandomValues(new Uint8Array(16));
  for (let i = 5, ms = now; i >= 0; i--, ms = Math.floor(ms / 256)) b[i] = ms % 256;
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export async function openDB(name = DB_NAME, { onVersionChange } = {}) {
  const open = indexedDB.open(name, DB_VERSION);
  open.onupgradeneeded = (e) => {
    for (let v = e.oldVersion + 1; v <= DB_VERSION; v++) STEPS[v](open.result, open.transaction);
  };
  const idb = await req(open);
  // A newer version of the app opened the database in another tab: let its upgrade run.
  idb.onversionchange = () => {
    idb.close();
    if (onVersionChange) onVersionChange();
  };
  return new Store(idb);
}

// What a fragment keeps once its words are erased (a withdrawal, a narrowing, its project's keep days): enough for
// the lists to say what it was and where it belonged.
function wordsErased(d) {
  return { conversation_id: d.conversation_id, consent_id: d.consent_id, kind: d.kind, text: '',
    captured_at: d.captured_at };
}

// The scopes a consent allows now. Its `data` is what the phone recorded and what the outbox sends (again, after a
// lost answer or from a backup): the server compares a replay with what it first received, so a narrowing never
// rewrites `data`; the server's word is kept beside it, in `allowed`.
export function scopesNow(consent) {
  const given = consent.data.scopes || [];
  return consent.allowed ? given.filter((s) => consent.allowed.includes(s)) : given;
}

class Store {
  constructor(idb) {
    this.idb = idb;
  }

  async tx(stores, mode, fn) {
    const tx = this.idb.transaction(stores, mode);
    const [out] = await Promise.all([fn(tx), finished(tx)]);
    return out;
  }

  close() {
    this.idb.close();
  }

  getKV(key) {
    return this.tx('kv', 'readonly', async (tx) => {
      const row = await req(tx.objectStore('kv').get(key));
      return row ? row.value : undefined;
    });
  }

  setKV(key, value) {
    return this.tx('kv', 'readwrite', (tx) => req(tx.objectStore('kv').put({ key, value })));
  }

  delKV(key) {
    return this.tx('kv', 'readwrite', (tx) => req(tx.objectStore('kv').delete(key)));
  }

  // Deletes every key that starts with `prefix`.
  forgetKV(prefix) {
    return this.tx('kv', 'readwrite', (tx) => {
      const store = tx.objectStore('kv');
      return req(store.delete(IDBKeyRange.bound(prefix, `${prefix}\uffff`)));
    });
  }

  // Adds new records in the given order; `seq` keeps that order so parents are always sent first.
  // A fragment may bring its audio clip (`clip`: { blob, type, duration_ms }), stored in the same transaction.
  addRecords(items) {
    return this.tx(['records', 'kv', 'clips'], 'readwrite', async (tx) => {
      const kv = tx.objectStore('kv');
      const store = tx.objectStore('records');
      let seq = ((await req(kv.get('seq'))) || { value: 0 }).value;
      const now = Date.now();
      const out = [];
      for (const it of items) {
        if (!TYPES.includes(it.type)) throw new Error(`unknown record type ${it.type}`);
        const id = it.id || uuid();
        // The same form sent twice (a double tap): the record is already here, and stays as it was.
        const had = it.id && (await req(store.get(id)));
        if (had) { out.push(had); continue; }
        const rec = {
          id, type: it.type, data: it.data, state: 'local', seq: ++seq, owner: it.owner || '',
          conv: convOf(it.type, id, it.data), created: now, error: null, synced_at: null,
        };
        await req(store.add(rec));
        if (it.clip && it.type === 'fragment') {
          await req(tx.objectStore('clips').add({
            id, blob: it.clip.blob, type: it.clip.type || it.clip.blob.type, size: it.clip.blob.size,
            duration_ms: it.clip.duration_ms || null, created: now, state: 'local',
            sha256: null, upload_url: null, offset: 0, error: null, done_at: null,
          }));
        }
        out.push(rec);
      }
      await req(kv.put({ key: 'seq', value: seq }));
      return out;
    });
  }

  async addRecord(type, data, owner, id, clip) {
    return (await this.addRecords([{ type, data, owner, id, clip }]))[0];
  }

  // ---- audio clips: state is local (on the phone), done (on the server, Blob let go), attention, or erased (the
  // server refused it for good: its consent no longer covers audio, or its fragment was erased; Blob let go).

  getClip(id) {
    return this.tx('clips', 'readonly', (tx) => req(tx.objectStore('clips').get(id)));
  }

  allClips() {
    return this.tx('clips', 'readonly', (tx) => req(tx.objectStore('clips').getAll()));
  }

  updateClip(id, patch) {
    return this.tx('clips', 'readwrite', async (tx) => {
      const store = tx.objectStore('clips');
      const clip = await req(store.get(id));
      if (!clip) return null;
      Object.assign(clip, patch);
      // Once the server holds the clip the phone lets its bytes go (the server's SHA-256 is kept).
      if (clip.state === 'done') clip.blob = null;
      await req(store.put(clip));
      return clip;
    });
  }

  // The server says the consent of this fragment no longer allows `scope`: the phone's copy says so too.
  dropScope(fragmentId, scope) {
    return this.tx('records', 'readwrite', async (tx) => {
      const store = tx.objectStore('records');
      const fragment = await req(store.get(fragmentId));
      const consent = fragment && (await req(store.get(fragment.data.consent_id)));
      if (!consent || !scopesNow(consent).includes(scope)) return false;
      consent.allowed = scopesNow(consent).filter((s) => s !== scope);
      await req(store.put(consent));
      return true;
    });
  }

  async clipCounts(owner) {
    const out = { local: 0, done: 0, attention: 0, bytes: 0 };
    const owners = owner ? new Map((await this.allRecords()).map((r) => [r.id, r.owner])) : null;
    for (const c of await this.allClips()) {
      if (owners && owners.get(c.id) && owners.get(c.id) !== owner) continue;
      out[c.state] = (out[c.state] || 0) + 1;
      if (c.blob) out.bytes += c.size || 0;
    }
    return out;
  }

  getRecord(id) {
    return this.tx('records', 'readonly', (tx) => req(tx.objectStore('records').get(id)));
  }

  allRecords() {
    return this.tx('records', 'readonly', async (tx) => {
      const all = await req(tx.objectStore('records').getAll());
      return all.sort((a, b) => a.seq - b.seq);
    });
  }

  recordsOfConversation(convId) {
    return this.tx('records', 'readonly', async (tx) => {
      const all = await req(tx.objectStore('records').index('by_conv').getAll(convId));
      return all.sort((a, b) => a.seq - b.seq);
    });
  }

  // Records in one state, oldest first.
  byState(state, limit) {
    return this.tx('records', 'readonly', (tx) => {
      const range = IDBKeyRange.bound([state, -Infinity], [state, Infinity]);
      return req(tx.objectStore('records').index('by_state_seq').getAll(range, limit));
    });
  }

  // With `owner`: only that researcher's records (and any made before records had owners).
  async counts(owner) {
    const out = { local: 0, synced: 0, attention: 0 };
    if (owner) {
      out.localByType = { conversation: 0, consent: 0, fragment: 0 };
      for (const r of await this.allRecords()) {
        if (r.owner && r.owner !== owner) continue;
        out[r.state] += 1;
        if (r.state === 'local') out.localByType[r.type] += 1;
      }
      return out;
    }
    await this.tx('records', 'readonly', async (tx) => {
      const idx = tx.objectStore('records').index('by_state_seq');
      for (const s of STATES) {
        out[s] = await req(idx.count(IDBKeyRange.bound([s, -Infinity], [s, Infinity])));
      }
    });
    return out;
  }

  // Applies the server's per-item results. Only `created` and `duplicate` take a record out of the
  // outbox; `conflict` and `rejected` put it on the needs-attention list with the server's reason.
  applyReceipts(results) {
    return this.tx('records', 'readwrite', async (tx) => {
      const store = tx.objectStore('records');
      const now = Date.now();
      let applied = 0;
      for (const r of results || []) {
        if (!r || typeof r.id !== 'string') continue;
        const rec = await req(store.get(r.id));
        if (!rec || rec.state !== 'local') continue;
        if (r.status === 'created' || r.status === 'duplicate') {
          rec.state = 'synced';
          rec.synced_at = now;
          rec.error = null;
        } else if (r.status === 'conflict' || r.status === 'rejected') {
          rec.state = 'attention';
          rec.error = { status: r.status, code: r.code || r.status, detail: r.detail || '' };
        } else {
          continue;
        }
        await req(store.put(rec));
        applied++;
      }
      return applied;
    });
  }

  // Puts a needs-attention record back in the outbox, optionally with corrected data. A fragment the
  // server holds in another form (a conflict) can only go again under a new id; nothing points to a fragment.
  retry(id, data) {
    return this.tx(['records', 'clips'], 'readwrite', async (tx) => {
      const store = tx.objectStore('records');
      const rec = await req(store.get(id));
      if (!rec || rec.state !== 'attention') return false;
      const renew = rec.type === 'fragment' && rec.error &&
        (rec.error.status === 'conflict' || rec.error.code === 'id_unavailable');
      rec.state = 'local';
      rec.error = null;
      if (data) rec.data = data;
      if (renew) {
        await req(store.delete(id));
        rec.id = uuid();
        const clips = tx.objectStore('clips');
        const clip = await req(clips.get(id));
        if (clip) {
          await req(clips.delete(id));
          await req(clips.put({ ...clip, id: rec.id, state: 'local', upload_url: null, offset: 0, error: null }));
        }
      }
      await req(store.put(rec));
      return rec.id;
    });
  }

  // Only a record the server refused can be thrown away, and only by the researcher's choice.
  discard(id) {
    return this.tx(['records', 'clips'], 'readwrite', async (tx) => {
      const store = tx.objectStore('records');
      const rec = await req(store.get(id));
      if (!rec || rec.state !== 'attention') return false;
      await req(store.delete(id));
      await req(tx.objectStore('clips').delete(id));
      return true;
    });
  }

  // A withdrawn consent (or an erased fragment) leaves the phone for real: the text, answers, signature and clip
  // are deleted from every store; a stub stays so the lists can say "Withdrawn — erased from this phone". An unsent
  // fragment of that consent can never be kept by the server: it becomes a needs-attention item to discard.
  eraseWithdrawn(ids) {
    const gone = new Set(ids);
    return this.tx(['records', 'clips'], 'readwrite', async (tx) => {
      const store = tx.objectStore('records');
      const erased = [];
      const all = await req(store.getAll());
      for (const rec of all) {
        const hit = gone.has(rec.id) || (rec.type === 'fragment' && gone.has(rec.data.consent_id));
        if (!hit || rec.erased) continue;
        const d = rec.data;
        if (rec.type === 'consent') {
          rec.data = { conversation_id: d.conversation_id, participant_label: d.participant_label,
            consent_form_id: d.consent_form_id, scopes: [], method: d.method, given_at: d.given_at };
        } else if (rec.type === 'fragment') {
          rec.data = wordsErased(d);
          await req(tx.objectStore('clips').delete(rec.id));
          if (rec.state === 'local') {
            rec.state = 'attention';
            rec.error = { status: 'rejected', code: 'consent_withdrawn', detail: '' };
          }
        } else continue;
        rec.erased = 'withdrawn';
        await req(store.put(rec));
        erased.push(rec.id);
      }
      // A conversation's note goes once none of its consents is left, as on the server (it is about them).
      const consents = all.filter((r) => r.type === 'consent');
      for (const conv of all.filter((r) => r.type === 'conversation' && r.data.note)) {
        const its = consents.filter((c) => c.data.conversation_id === conv.id);
        if (its.some((c) => gone.has(c.id)) && its.every((c) => c.erased)) {
          delete conv.data.note;
          await req(store.put(conv));
        }
      }
      return erased;
    });
  }

  // A coordinator narrowed these consents ([{ id, scopes }]: the participant agreed to less). The phone's copy
  // allows no more than the server's, so capture stops offering what was taken back; a clip not yet on the server
  // goes when `audio` went, and an unsent quote's words when `quote` went, as the server erased the quotes it held
  // (those come as erasures). Answers the ids of the records it changed.
  narrowConsents(list) {
    const allowedBy = new Map(list.map((n) => [n.id, n.scopes]));
    return this.tx(['records', 'clips'], 'readwrite', async (tx) => {
      const store = tx.objectStore('records');
      const clips = tx.objectStore('clips');
      const changed = [];
      for (const rec of await req(store.getAll())) {
        const allowed = rec.erased ? null
          : allowedBy.get(rec.type === 'consent' ? rec.id : rec.type === 'fragment' ? rec.data.consent_id : null);
        if (!allowed) continue;
        if (rec.type === 'consent') {
          const now = scopesNow(rec);
          if (now.every((s) => allowed.includes(s))) continue;
          rec.allowed = now.filter((s) => allowed.includes(s));
          await req(store.put(rec));
          changed.push(rec.id);
          continue;
        }
        const clip = allowed.includes('audio') ? null : await req(clips.get(rec.id));
        if (clip && clip.state !== 'done' && clip.state !== 'erased') {
          await req(clips.put({ ...clip, state: 'erased', blob: null,
            error: { status: 'rejected', code: 'audio_not_consented', detail: '' } }));
          changed.push(rec.id);
        }
        if (!allowed.includes('quote') && rec.data.kind === 'quote' && rec.state !== 'synced') {
          rec.data = wordsErased(rec.data);
          await req(clips.delete(rec.id));
          rec.state = 'attention';
          rec.error = { status: 'rejected', code: 'quote_not_consented', detail: '' };
          rec.erased = 'narrowed';
          await req(store.put(rec));
          changed.push(rec.id);
        }
      }
      return changed;
    });
  }

  // Content of records the server has held for longer than their project allows (`keepDays`: days by project id;
  // `fallbackDays` for a project not listed) leaves the phone; a stub stays.
  // `onlyOwner`: only that researcher's records (and those from before owners were kept), all of them at once.
  trimSynced(keepDays, fallbackDays, now = Date.now(), onlyOwner = '') {
    return this.tx(['records', 'clips'], 'readwrite', async (tx) => {
      const store = tx.objectStore('records');
      const all = await req(store.getAll());
      const projectOf = new Map(all.filter((r) => r.type === 'conversation').map((r) => [r.id, r.data.project_id]));
      let n = 0;
      for (const rec of all) {
        if (rec.state !== 'synced' || rec.erased || rec.stub || !rec.synced_at) continue;
        if (onlyOwner && rec.owner && rec.owner !== onlyOwner) continue;
        const days = onlyOwner ? null : keepDays[projectOf.get(rec.conv)] || fallbackDays;
        if (!onlyOwner && now - rec.synced_at < days * 864e5) continue;
        const d = rec.data;
        if (rec.type === 'fragment') {
          rec.data = wordsErased(d);
          await req(tx.objectStore('clips').delete(rec.id));
        } else if (rec.type === 'consent') {
          delete d.signature;
        } else if (rec.type === 'conversation') {
          delete d.note;
        }
        rec.stub = true;
        rec.stub_days = days;
        await req(store.put(rec));
        n++;
      }
      return n;
    });
  }

  // Erases every record one researcher made on this phone, with its clip (a logout that asked for it).
  eraseOwner(owner) {
    return this.tx(['records', 'clips'], 'readwrite', async (tx) => {
      const store = tx.objectStore('records');
      let n = 0;
      for (const rec of await req(store.getAll())) {
        if (rec.owner !== owner) continue;
        await req(store.delete(rec.id));
        await req(tx.objectStore('clips').delete(rec.id));
        n++;
      }
      return n;
    });
  }

  async exportAll(deviceId, keep = () => true) {
    return {
      format: 'hearken-phone-export',
      version: 1,
      exported_at: new Date().toISOString(),
      device_id: deviceId,
      records: (await this.allRecords()).filter(keep),
    };
  }

  // Adds records from another phone's export. Records already here are left alone; anything the
  // server has not confirmed goes into this phone's outbox (a replay is harmless: it answers duplicate).
  importRecords(dump) {
    if (!dump || dump.format !== 'hearken-phone-export' || !Array.isArray(dump.records)) {
      return Promise.reject(new Error('not a Hearken export'));
    }
    const incoming = dump.records
      .filter((r) => r && typeof r.id === 'string' && TYPES.includes(r.type) && r.data && typeof r.data === 'object')
      .sort((a, b) => (a.seq || 0) - (b.seq || 0));
    return this.tx(['records', 'kv'], 'readwrite', async (tx) => {
      const kv = tx.objectStore('kv');
      const store = tx.objectStore('records');
      let seq = ((await req(kv.get('seq'))) || { value: 0 }).value;
      let added = 0;
      let skipped = 0;
      for (const r of incoming) {
        if (await req(store.get(r.id))) { skipped++; continue; }
        const synced = r.state === 'synced';
        await req(store.add({
          id: r.id, type: r.type, data: r.data, state: synced ? 'synced' : 'local', seq: ++seq,
          owner: r.owner || '', conv: convOf(r.type, r.id, r.data), created: r.created || Date.now(),
          error: null, synced_at: synced ? r.synced_at || Date.now() : null,
        }));
        added++;
      }
      await req(kv.put({ key: 'seq', value: seq }));
      return { added, skipped };
    });
  }
}
