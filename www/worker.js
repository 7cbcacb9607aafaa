// The worker owns the wasm module: it fetches the manifest and the model files from this
// origin (with progress, sha256 checked, kept in the Cache API for the next visit), routes,
// encodes each image once and decodes per box. The page only sends messages.
//
// Two builds of one source: pkg-threads/ runs tract's matrix products on a pool of web workers
// (wasm threads: needs a cross-origin isolated page, SharedArrayBuffer and Atomics.wait), pkg/
// on this worker alone. The threaded one is taken whenever it can run; `engine` tells the page.
let Engine = null;

const MODEL_CACHE = 'daftseg-models-v1';
let engine = null;
let manifest = null;
let currentModel = null;
let fileName = '';
let override = '';
let modality = null; // from the file's metadata (a DICOM Modality tag)

const post = (message, transfer = []) => self.postMessage(message, transfer);
const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

async function sha256(bytes) {
  return hex(await crypto.subtle.digest('SHA-256', bytes));
}

// One model file: from the Cache API when it is there and intact, else downloaded with progress.
async function modelFile(ref, onBytes) {
  const url = new URL(`models/${ref.file}`, self.location.href).href;
  const key = `${url}?sha256=${ref.sha256}`;
  const cache = 'caches' in self ? await caches.open(MODEL_CACHE) : null;
  const cached = cache && (await cache.match(key));
  if (cached) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    if ((await sha256(bytes)) === ref.sha256) {
      onBytes(bytes.length);
      return { bytes, fromCache: true };
    }
    await cache.delete(key);
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`model file ${ref.file}: HTTP ${response.status}`);
  const reader = response.body.getReader();
  const bytes = new Uint8Array(ref.bytes);
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.length > bytes.length) throw new Error(`model file ${ref.file} is larger than the manifest says`);
    bytes.set(value, received);
    received += value.length;
    onBytes(value.length);
  }
  if (received !== ref.bytes) throw new Error(`model file ${ref.file}: got ${received} bytes, expected ${ref.bytes}`);
  const digest = await sha256(bytes);
  if (digest !== ref.sha256) throw new Error(`model file ${ref.file}: sha256 ${digest}, expected ${ref.sha256}`);
  if (cache) await cache.put(key, new Response(bytes));
  return { bytes, fromCache: false };
}

async function ensureModel(id) {
  if (engine.has_model(id)) return;
  const entry = manifest.models.find((m) => m.id === id);
  const total = entry.encoder.bytes + entry.decoder.bytes;
  let loaded = 0;
  const onBytes = (n) => {
    loaded += n;
    post({ type: 'progress', stage: `loading model ${id}`, fraction: loaded / total });
  };
  const [encoder, decoder] = await Promise.all([modelFile(entry.encoder, onBytes), modelFile(entry.decoder, onBytes)]);
  const started = performance.now();
  engine.load_model(id, encoder.bytes, decoder.bytes);
  post({ type: 'model-loaded', id, fromCache: encoder.fromCache && decoder.fromCache, ms: performance.now() - started });
}

async function routeAndEncode() {
  const route = engine.route(fileName, modality, override || null);
  post({ type: 'route', route });
  await ensureModel(route.model_id);
  currentModel = route.model_id;
  post({ type: 'progress', stage: 'encoding image', fraction: null });
  const started = performance.now();
  const info = engine.encode(currentModel);
  post({ type: 'encoded', ms: performance.now() - started, cacheHit: info.cache_hit });
}

// Threads for the pool: what the page asks for, else one per core but one left to the page and
// the browser, and at least 2 (on a 2-core machine the page idles while the model runs).
function poolSize(requested) {
  const cores = self.navigator.hardwareConcurrency || 1;
  const wanted = Number.isInteger(requested) && requested > 0 ? requested : Math.max(2, cores - 1);
  return Math.min(wanted, Math.max(cores, 1) * 2, 64);
}

/** Loads the threaded module when it can run here, else the single-thread one; says why. */
async function loadModule(requestedThreads) {
  const threads = poolSize(requestedThreads);
  let reason;
  if (!self.crossOriginIsolated || typeof SharedArrayBuffer !== 'function') reason = 'the page is not cross-origin isolated';
  else if (threads < 2) reason = requestedThreads === 1 ? '1 thread was asked for' : 'this machine has 1 core';
  else {
    try {
      const pkg = await import('./pkg-threads/daftseg.js');
      await pkg.default();
      await pkg.initThreadPool(threads);
      pkg.useThreadPool();
      return { pkg, threads, reason: null };
    } catch (error) {
      // Not built (no nightly toolchain), or the browser refused: the plain module still works.
      reason = `the threaded module failed to start (${error?.message ?? error})`;
    }
  }
  const pkg = await import('./pkg/daftseg.js');
  await pkg.default();
  return { pkg, threads: 1, reason };
}

const handlers = {
  async init({ threads }) {
    const loaded = await loadModule(threads);
    Engine = loaded.pkg.Engine;
    post({ type: 'engine', threads: loaded.threads, singleThreadReason: loaded.reason });
    const response = await fetch(new URL('models/manifest.json', self.location.href));
    if (!response.ok) throw new Error(`model manifest: HTTP ${response.status}`);
    engine = new Engine(await response.text());
    manifest = engine.manifest();
    post({ type: 'manifest', manifest });
  },
  async open({ name, bytes }) {
    const info = engine.open_image(new Uint8Array(bytes));
    fileName = name;
    modality = null;
    const rgba = engine.image_rgba();
    post({ type: 'image', name, width: info.width, height: info.height, rgba }, [rgba.buffer]);
    await routeAndEncode();
  },
  // A volume: one DICOM / NIfTI / NRRD / NPZ file, or the DICOM files of a series.
  async openVolume({ names, buffers }) {
    const info = engine.open_volume(names, buffers.map((b) => new Uint8Array(b)));
    fileName = names[0];
    modality = info.modality ?? null;
    const z = Math.floor(info.depth / 2);
    const rgba = engine.select_slice(z);
    const name = names.length > 1 ? `${names.length} DICOM files` : names[0];
    post({ type: 'volume', name, info, z, rgba }, [rgba.buffer]);
    await routeAndEncode();
  },
  async slice({ z }) {
    const rgba = engine.select_slice(z);
    post({ type: 'slice', z, rgba }, [rgba.buffer]);
  },
  async setWindow({ window, z }) {
    const applied = engine.set_window(window);
    const rgba = engine.select_slice(z);
    post({ type: 'window', applied, z, rgba }, [rgba.buffer]);
  },
  // 3D propagation of every box over its slice range; `cancel` is shared with the page, which
  // sets it to 1 to stop between two slices.
  async segment3d({ boxes, cancel, window }) {
    const flag = new Int32Array(cancel);
    const started = performance.now();
    const labels = engine.segment_open_volume(currentModel, new Float64Array(boxes), (done, total) => {
      post({ type: 'progress', stage: `3D: slice ${done} of ${total}`, fraction: done / total });
      return Atomics.load(flag, 0) === 0;
    });
    post({ type: 'labels3d', labels, window, ms: performance.now() - started }, [labels.buffer]);
  },
  async exportVolume({ labels, name, slice }) {
    const bytes = engine.export_volume(new Uint16Array(labels), name, slice ?? undefined);
    post({ type: 'file', name, bytes }, [bytes.buffer]);
  },
  async setModel({ model }) {
    override = model;
    if (fileName) await routeAndEncode();
  },
  async segment({ objectId, box }) {
    const started = performance.now();
    const mask = engine.segment_box(currentModel, box[0], box[1], box[2], box[3]);
    post({ type: 'mask', objectId, box, mask, ms: performance.now() - started }, [mask.buffer]);
  },
  async exportMask({ width, height, labels }) {
    const png = Engine.label_png(width, height, new Uint16Array(labels));
    post({ type: 'png', png }, [png.buffer]);
  },
};

// Jobs run one at a time, in order: the engine is not re-entrant.
let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(async () => {
    try {
      await handlers[data.type](data);
    } catch (error) {
      post({ type: 'error', job: data.type, objectId: data.objectId, message: String(error && error.message ? error.message : error) });
    } finally {
      post({ type: 'idle', job: data.type });
    }
  });
};
