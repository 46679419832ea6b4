// Recording an audio clip for a fragment: MediaRecorder (Opus in WebM/Ogg, AAC in MP4 on Safari), a level
// meter from an AnalyserNode, the project's time limit, then listen, keep, record again or discard.

import { S } from '../strings.js';
import { h } from '../dom.js';

const TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4;codecs=mp4a.40.2', 'audio/mp4'];

export function pickType() {
  const MR = globalThis.MediaRecorder;
  if (!MR) return null;
  return TYPES.find((t) => MR.isTypeSupported && MR.isTypeSupported(t)) || '';
}

export const mmss = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

export function recorder({ maxSeconds = 180 } = {}) {
  const box = h('div', { class: 'recorder', id: 'recorder' });
  const msg = h('p', { class: 'hint', role: 'status', id: 'clip-status' });
  let state = 'idle'; // idle, recording, review, kept
  let clip = null;
  let url = null;
  let live = null; // { rec, stream, ctx, timer, raf, started }

  const button = (id, text, onclick, cls = '') => h('button', { type: 'button', id, class: cls, onclick }, text);

  function release() {
    if (!live) return;
    clearInterval(live.timer);
    cancelAnimationFrame(live.raf);
    live.stream.getTracks().forEach((t) => t.stop());
    if (live.ctx) live.ctx.close().catch(() => {});
    live = null;
  }

  function setClip(c) {
    if (url) URL.revokeObjectURL(url);
    clip = c;
    url = c ? URL.createObjectURL(c.blob) : null;
  }

  async function start() {
    const type = pickType();
    if (type === null || !navigator.mediaDevices) { msg.textContent = S.noRecorder; return; }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      msg.textContent = S.micRefused;
      return;
    }
    const rec = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    const parts = [];
    rec.ondataavailable = (e) => { if (e.data && e.data.size) parts.push(e.data); };
    live = { rec, stream, ctx: null, timer: null, raf: 0, started: Date.now() };
    rec.onstop = () => {
      if (!live || live.rec !== rec) return; // abandoned (the form was reset or left)
      const ms = Date.now() - live.started;
      release();
      const blob = new Blob(parts, { type: (rec.mimeType || type || 'audio/webm').split(';')[0] });
      setClip(blob.size ? { blob, type: blob.type, duration_ms: ms } : null);
      state = blob.size ? 'review' : 'idle';
      msg.textContent = blob.size ? S.clipRecorded(mmss(ms / 1000)) : S.noRecorder;
      draw();
      const keep = box.querySelector('#keep-clip');
      if (keep) keep.focus();
    };
    try {
      const ctx = new AudioContext();
      const an = ctx.createAnalyser();
      an.fftSize = 512;
      ctx.createMediaStreamSource(stream).connect(an);
      live.ctx = ctx;
      const buf = new Uint8Array(an.fftSize);
      const tick = () => {
        an.getByteTimeDomainData(buf);
        let peak = 0;
        for (const v of buf) peak = Math.max(peak, Math.abs(v - 128) / 128);
        const meter = box.querySelector('#level');
        if (meter) meter.value = peak;
        if (live) live.raf = requestAnimationFrame(tick);
      };
      live.raf = requestAnimationFrame(tick);
    } catch { /* no meter, the recording still works */ }
    // Leaving the screen while recording stops the microphone and drops the unfinished clip.
    window.addEventListener('hashchange', () => { if (live && live.rec === rec) { release(); state = 'idle'; } }, { once: true });
    rec.start(1000);
    state = 'recording';
    msg.textContent = S.recordingNow;
    draw();
    box.querySelector('#stop-recording').focus();
    live.timer = setInterval(() => {
      const s = (Date.now() - live.started) / 1000;
      const t = box.querySelector('#rec-time');
      if (t) t.textContent = S.recordTime(mmss(s), mmss(maxSeconds));
      if (s >= maxSeconds) { msg.textContent = S.limitReached; stop(); }
    }, 250);
  }

  function stop() {
    if (live && live.rec.state !== 'inactive') live.rec.stop();
  }

  function discard() {
    stop();
    setClip(null);
    state = 'idle';
    msg.textContent = S.clipDiscarded;
    draw();
    box.querySelector('#record').focus();
  }

  function draw() {
    const kids = [h('p', { class: 'label' }, S.clipTitle)];
    if (state === 'idle') {
      kids.push(button('record', S.recordClip, start, 'big'));
    } else if (state === 'recording') {
      kids.push(h('label', { for: 'level' }, S.level), h('meter', { id: 'level', min: '0', max: '1', low: '0.1', high: '0.9', optimum: '0.5', value: '0' }),
        h('p', { id: 'rec-time' }, S.recordTime('0:00', mmss(maxSeconds))),
        button('stop-recording', S.stopRecording, stop, 'primary big'));
    } else {
      kids.push(h('audio', { id: 'clip-preview', controls: true, src: url, preload: 'metadata', 'aria-label': S.listenClip }));
      if (state === 'review') kids.push(button('keep-clip', S.keepClip, () => { state = 'kept'; msg.textContent = S.clipKept; draw(); box.querySelector('#rerecord').focus(); }, 'primary'));
      else kids.push(h('p', { id: 'clip-kept' }, S.clipWillSave(mmss(clip.duration_ms / 1000))));
      kids.push(button('rerecord', S.recordAgain, () => { setClip(null); start(); }), button('discard-clip', S.discardClip, discard));
    }
    kids.push(msg);
    box.replaceChildren(...kids);
  }

  draw();
  return {
    el: box,
    // A clip being recorded or listened to but not yet kept must not be lost or saved by surprise.
    pending: () => state === 'recording' || state === 'review',
    clip: () => (state === 'kept' ? clip : null),
    reset() { release(); setClip(null); state = 'idle'; draw(); },
  };
}
