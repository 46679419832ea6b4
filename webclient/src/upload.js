// Resumable upload of one audio clip with the server's tus 1.0 core protocol (POST to create, PATCH
// chunks of 512 KB at the server's offset, HEAD to learn the offset after an interruption). The upload's
// address and offset are saved after every step, so a closed app resumes where the server stopped.

import { ApiError } from './api.js';

export const TUS = '1.0.0';
export const CHUNK = 512 * 1024;

// Lowercase hex SHA-256 of a Blob (clips are at most a few MB, so one read is fine).
export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// Standard base64 of UTF-8 text, as Upload-Metadata wants.
export function b64(text) {
  let bin = '';
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function createUploader({ base = '/api/v1', getToken = () => null, onReach = () => {}, timeoutMs = 60000,
  chunkSize = CHUNK } = {}) {
  async function send(method, url, headers, body) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    let res;
    let json = null;
    try {
      res = await fetch(url, {
        method, body, signal: ctl.signal, cache: 'no-store', credentials: 'omit',
        headers: { ...headers, 'Tus-Resumable': TUS, Authorization: `Bearer ${getToken()}`, Accept: 'application/json' },
      });
      const raw = method === 'HEAD' || res.status === 204 ? '' : await res.text();
      if (raw) {
        try { json = JSON.parse(raw); } catch { json = null; }
      }
    } catch (err) {
      onReach(false);
      throw new ApiError(0, ctl.signal.aborted ? 'timeout' : 'network', String((err && err.message) || err));
    } finally {
      clearTimeout(timer);
    }
    onReach(true);
    const offset = Number(res.headers.get('Upload-Offset'));
    const out = { status: res.status, json, offset: Number.isFinite(offset) ? offset : null, location: res.headers.get('Location') };
    if (!res.ok) {
      const retry = Number(res.headers.get('Retry-After'));
      const err = new ApiError(res.status, (json && json.code) || `http_${res.status}`,
        (json && typeof json.detail === 'string' && json.detail) || res.statusText, retry > 0 ? retry : null);
      err.offset = out.offset;
      throw err;
    }
    return out;
  }

  async function create(clip) {
    const meta = {
      fragment_id: clip.id, sha256: clip.sha256, filename: `${clip.id}.${extension(clip.type)}`, filetype: clip.type,
    };
    if (clip.duration_ms > 0) meta.duration_ms = String(Math.round(clip.duration_ms));
    const res = await send('POST', `${base}/uploads/`, {
      'Upload-Length': String(clip.size),
      'Upload-Metadata': Object.entries(meta).map(([k, v]) => `${k} ${b64(v)}`).join(','),
    });
    if (res.status === 200 && res.json && res.json.completed) return { done: true };
    const loc = res.location || (res.json && res.json.id && `${base}/uploads/${res.json.id}`);
    return { url: new URL(loc, location.href).pathname, offset: res.offset ?? (res.json && res.json.offset) ?? 0 };
  }

  // Sends `clip` (a row of the clips store with its Blob) until the server has attached it. `save(patch)`
  // keeps progress in IndexedDB; `progress(offset)` is told each step. Throws an ApiError otherwise.
  async function upload(clip, { save = async () => {}, progress = () => {} } = {}) {
    if (!clip.sha256) {
      clip.sha256 = await sha256Hex(clip.blob);
      await save({ sha256: clip.sha256 });
    }
    let url = clip.upload_url;
    let offset = null;
    let restarts = 0;
    for (;;) {
      if (url && offset === null) {
        try {
          offset = (await send('HEAD', url, {})).offset;
        } catch (err) {
          if (err.status !== 404) throw err;
          url = null;
        }
      }
      if (!url) {
        if (restarts++ > 2) throw new ApiError(0, 'upload_restarted', 'the server kept losing the upload');
        const made = await create(clip);
        if (made.done) return;
        url = made.url;
        offset = made.offset;
        await save({ upload_url: url, offset });
      }
      progress(offset);
      // The last chunk goes even when empty (offset = length): the server attaches the clip on it.
      const body = clip.blob.slice(offset, Math.min(clip.size, offset + chunkSize));
      try {
        const res = await send('PATCH', url, { 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' }, body);
        offset = res.offset;
        await save({ offset });
        if (offset >= clip.size) { progress(offset); return; }
      } catch (err) {
        if (err.status === 404) { url = null; offset = null; await save({ upload_url: null, offset: 0 }); continue; }
        if (err.status === 409 && err.code === 'offset_mismatch' && err.offset !== null) { offset = err.offset; continue; }
        throw err;
      }
    }
  }

  return { upload, send };
}

function extension(type) {
  const t = (type || '').split(';')[0];
  return { 'audio/webm': 'webm', 'audio/ogg': 'ogg', 'audio/mp4': 'm4a', 'audio/mpeg': 'mp3', 'audio/wav': 'wav' }[t] || 'bin';
}
