// The sync engine. It runs on start, when the browser says it is online, after each capture and when
// the researcher presses "Send now" (Background Sync alone is not enough: Safari lacks it).
// Records leave the outbox only on the server's per-item receipt (`created` or `duplicate`).
// Audio clips go after the records, each only once its fragment is on the server, through `uploader`
// (upload.js) with the same backoff; a 4xx puts a clip on the needs-attention list with the server's reason.

export const MAX_DELAY_MS = 5 * 60 * 1000;

// Exponential backoff with jitter, capped at five minutes.
export function backoffDelay(attempt, rand = Math.random) {
  const base = Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(attempt, 20));
  return Math.min(MAX_DELAY_MS, Math.round(base / 2 + (rand() * base) / 2));
}

const encoder = new TextEncoder();

// Worth trying again later: no answer, 5xx, 408/425/429, or another request busy with the same upload.
function transient(err) {
  return !err.status || err.status >= 500 || [408, 425, 429].includes(err.status)
    || (err.status === 409 && err.code === 'upload_busy');
}

const REFUSED_FOR_GOOD = ['audio_not_consented', 'fragment_erased'];

export function createOutbox({
  db, api, deviceId, getOwner = () => '', onChange = () => {}, uploader = null,
  batchItems = 200, batchBytes = 1500 * 1024, timers = globalThis,
}) {
  const st = {
    sending: new Set(), running: null, attempt: 0, timer: null, nextAt: null,
    authNeeded: false, lastError: null, lastSyncAt: null, uploading: null, again: false,
  };

  // Uploads every clip whose fragment the server has confirmed. False when it had to stop and schedule.
  async function uploadClips() {
    if (!uploader) return true;
    const owner = getOwner();
    const ready = [];
    for (const clip of await db.allClips()) {
      if (clip.state !== 'local' || !clip.blob) continue;
      const frag = await db.getRecord(clip.id);
      if (frag && frag.state === 'synced' && owner && !(frag.owner && frag.owner !== owner)) ready.push([frag.seq, clip]);
    }
    // In capture order, like the records.
    ready.sort((x, y) => x[0] - y[0]);
    for (const [, clip] of ready) {
      st.uploading = { id: clip.id, offset: clip.offset || 0, size: clip.size };
      onChange();
      try {
        await uploader.upload(clip, {
          save: (patch) => db.updateClip(clip.id, patch),
          progress: (offset) => { st.uploading = { id: clip.id, offset, size: clip.size }; onChange(); },
        });
        await db.updateClip(clip.id, { state: 'done', error: null, done_at: Date.now() });
      } catch (err) {
        st.lastError = err;
        if (err.status === 401) { st.authNeeded = true; return false; }
        if (transient(err)) { schedule(err.retryAfter); return false; }
        // Refused for good — the consent no longer covers audio, or the fragment was erased: the voice leaves
        // this phone now, and (no audio) the phone's copy of the consent stops offering to record.
        const gone = REFUSED_FOR_GOOD.includes(err.code);
        await db.updateClip(clip.id, { state: gone ? 'erased' : 'attention', error: { status: err.status, code: err.code, detail: err.detail || '' },
          ...(gone ? { blob: null } : {}) });
        if (err.code === 'audio_not_consented') await db.dropScope(clip.id, 'audio');
      } finally {
        st.uploading = null;
        onChange();
      }
    }
    return true;
  }

  async function selectBatch(limit) {
    const pending = await db.byState('local');
    const held = new Set((await db.byState('attention')).map((r) => r.id));
    const owner = getOwner();
    const batch = [];
    let bytes = 0;
    // Nobody logged in: nothing goes (it would go with no token, or the next person's).
    if (!owner) return batch;
    for (const r of pending) {
      // Someone else's records wait for them to log in; children of a refused parent wait for its fix.
      if (r.owner && r.owner !== owner) continue;
      if (held.has(r.data.conversation_id) || held.has(r.data.consent_id)) continue;
      const item = { type: r.type, id: r.id, data: r.data };
      const size = encoder.encode(JSON.stringify(item)).length + 1;
      if (batch.length && (batch.length >= limit || bytes + size > batchBytes)) break;
      batch.push(item);
      bytes += size;
    }
    return batch;
  }

  function schedule(retryAfterSeconds) {
    const delay = retryAfterSeconds
      ? Math.min(MAX_DELAY_MS, retryAfterSeconds * 1000)
      : backoffDelay(st.attempt);
    st.attempt++;
    st.nextAt = Date.now() + delay;
    st.timer = timers.setTimeout(() => { st.timer = null; sync(); }, delay);
  }

  function clearTimer() {
    if (st.timer) timers.clearTimeout(st.timer);
    st.timer = null;
    st.nextAt = null;
  }

  async function loop() {
    let limit = batchItems;
    for (;;) {
      if (st.authNeeded) return;
      const batch = await selectBatch(limit);
      if (!batch.length) {
        if (await uploadClips()) st.attempt = 0;
        return;
      }
      batch.forEach((i) => st.sending.add(i.id));
      onChange();
      let res;
      try {
        res = await api.sync(deviceId(), batch);
      } catch (err) {
        st.lastError = err;
        if (err.status === 401) { st.authNeeded = true; return; }
        if (err.status === 413 && batch.length > 1) { limit = Math.max(1, Math.floor(batch.length / 2)); continue; }
        if (err.status >= 400 && err.status < 500 && ![408, 425, 429].includes(err.status)) {
          // The whole request was refused: send one at a time to find the record the server will not take.
          if (batch.length > 1) { limit = 1; continue; }
          await db.applyReceipts([{ id: batch[0].id, status: 'rejected', code: err.code, detail: err.detail }]);
          continue;
        }
        schedule(err.retryAfter);
        return;
      } finally {
        batch.forEach((i) => st.sending.delete(i.id));
      }
      const applied = await db.applyReceipts(res && res.results);
      // A record the server holds erased (a backup restored after a withdrawal) leaves this phone too.
      const erased = ((res && res.results) || []).filter((r) => r && r.status === 'duplicate' && r.erased);
      if (erased.length) await db.eraseWithdrawn(erased.map((r) => r.id));
      st.lastSyncAt = Date.now();
      st.lastError = null;
      if (!applied) {
        // An answer without a receipt for anything we sent: keep everything and try again later.
        st.lastError = { status: 0, code: 'no_receipts', detail: '' };
        schedule();
        return;
      }
      st.attempt = 0;
      onChange();
    }
  }

  function sync() {
    // Asked while running (a capture just now): go round once more, or what was added late would wait.
    if (st.running) { st.again = true; return st.running; }
    clearTimer();
    st.again = false;
    st.running = loop()
      .catch((err) => { st.lastError = { status: 0, code: 'client', detail: String(err) }; schedule(); })
      .finally(() => {
        st.running = null;
        onChange();
        if (st.again && !st.timer && !st.authNeeded) sync();
      });
    onChange();
    return st.running;
  }

  return {
    state: st,
    sync,
    // After a new login the queue may go again.
    resume() { st.authNeeded = false; st.lastError = null; st.attempt = 0; return sync(); },
    start() {
      globalThis.addEventListener('online', () => sync());
      globalThis.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'visible' && !st.running && !st.timer) sync();
      });
      return sync();
    },
    stop() { clearTimer(); },
  };
}
