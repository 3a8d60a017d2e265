// Keeps the demo's app shell available offline. At install it caches every file the build listed
// in precache.json (page and worker chunks, CSS, shaders); requests then go network first, with
// the cached copy when the network fails. Models are not cached here: the library caches them in
// OPFS as they load (src/model/cache), and the demo reads them back from there when offline.
const CACHE = 'friday-shell';

async function precache() {
  const res = await fetch('precache.json', { cache: 'no-store' });
  if (!res.ok) return;
  const { files } = await res.json();
  const urls = ['./', ...files].map((f) => new URL(f, self.registration.scope).href);
  const cache = await caches.open(CACHE);
  await cache.addAll(urls.map((u) => new Request(u, { cache: 'reload' })));
  // Drop what an earlier build cached and this one no longer ships.
  for (const req of await cache.keys()) if (!urls.includes(req.url)) await cache.delete(req);
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().catch((e) => console.warn('friday sw: precache failed', e)).then(() => self.skipWaiting()));
});
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  // Model bytes (Range requests, .gguf files) go straight to the network.
  if (req.headers.has('range') || url.pathname.endsWith('.gguf') || url.pathname.startsWith('/@fs/')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(req);
      if (res.ok && res.status === 200 && req.mode !== 'navigate') await cache.put(req, res.clone());
      return res;
    } catch (e) {
      const hit = req.mode === 'navigate'
        ? await cache.match(new URL('./', self.registration.scope).href, { ignoreVary: true })
        : await cache.match(req, { ignoreVary: true });
      if (hit) return hit;
      throw e;
    }
  })());
});
