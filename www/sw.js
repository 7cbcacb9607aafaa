// Offline: after the first visit the app shell and the manifest come from this cache when the
// network is away (the worker keeps the model files in its own cache, by sha256). Network first,
// so a new version is picked up as soon as it is served.
const SHELL = 'daftseg-shell-v1';
const FILES = ['./', 'index.html', 'style.css', 'main.js', 'protocol.js', 'state.js', 'view.js', 'tools.js', 'volume.js', 'worker.js', 'embedding-store.js', 'storage.js', 'samples.json', 'pkg/daftseg.js', 'pkg/daftseg_bg.wasm', 'models/manifest.json'];

// The threaded module's files, when it was built (build.sh lists them: a folder name is a hash).
async function threadedFiles() {
  try {
    const response = await fetch('pkg-threads/files.json');
    return response.ok ? await response.json() : [];
  } catch {
    return [];
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(SHELL)
      .then(async (cache) => cache.addAll([...FILES, ...(await threadedFiles())]))
      .then(() => self.skipWaiting()),
  );
});
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.endsWith('.onnx')) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(SHELL).then((cache) => cache.put(event.request, copy));
        }
        return response;
      })
      .catch(() => caches.match(event.request).then((hit) => hit || Response.error())),
  );
});
