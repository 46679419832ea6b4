// The service worker keeps the app shell (versioned GET assets) so the app opens with no network.
// It never caches /api/ responses and never touches IndexedDB: the outbox belongs to the page.
// Change VERSION whenever a shell file changes; the new worker waits until the researcher chooses
// "Use the new version" (or every tab is closed), so a capture in progress is never interrupted.

const VERSION = '2026.11.30-35';
const CACHE = `hearken-shell-${VERSION}`;
const SHELL = [
  './',
  'index.html',
  'join.html',
  'manifest.webmanifest',
  'icon.svg',
  'css/app.css',
  'src/main.js',
  'src/app.js',
  'src/db.js',
  'src/api.js',
  'src/outbox.js',
  'src/upload.js',
  'src/views/recorder.js',
  'src/strings.js',
  'src/dom.js',
  'src/views/common.js',
  'src/views/login.js',
  'src/views/home.js',
  'src/views/conversation.js',
  'src/views/consent.js',
  'src/views/fragment.js',
  'src/views/attention.js',
  'src/views/phone.js',
  'src/views/receipt.js',
];
// The coordinator's workspace is for a laptop with a connection: its files are kept when first used, not at
// install, so a researcher's phone never spends data on them. Same versioned cache, so they update together.
const WORKSPACE = [
  'css/coord.css',
  'src/coord/shell.js',
  'src/coord/ui.js',
  'src/coord/strings.js',
  'src/coord/fragments.js',
  'src/coord/overview.js',
  'src/coord/review.js',
  'src/coord/tagging.js',
  'src/coord/search.js',
  'src/coord/codebook.js',
  'src/coord/project.js',
  'src/coord/people.js',
  'src/coord/consents.js',
  'src/coord/audit.js',
  'src/coord/memos.js',
  'src/coord/data.js',
  'src/coord/workshops.js',
  'src/coord/workshops.css',
  'src/coord/board.js',
  'src/coord/join.js',
];
const WORKSPACE_PATHS = new Set(WORKSPACE.map((u) => new URL(u, self.registration.scope).pathname));

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL.map((u) => new Request(u, { cache: 'reload' })))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith('hearken-shell-') && n !== CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'skip-waiting') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  const scope = new URL(self.registration.scope).pathname;
  if (!url.pathname.startsWith(scope)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // Every page of the app is the same shell (routes live in the hash; ?enrol=CODE is read by the page); the
    // workshop join page is a page of its own (a phone with the app installed scans the code too).
    const key = req.mode !== 'navigate' ? req : url.pathname.endsWith('/join.html') ? 'join.html' : './';
    const hit = await cache.match(key, { ignoreSearch: req.mode === 'navigate' });
    if (hit) return hit;
    const res = await fetch(req);
    if (res.ok && WORKSPACE_PATHS.has(url.pathname)) await cache.put(req, res.clone());
    return res;
  })());
});
