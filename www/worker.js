// The worker owns the wasm module and the session in it (the open study, its window and slice,
// the loaded models, the embedding cache): the page keeps none of that. It fetches the manifest
// and the model files from this origin (with progress, sha256 checked, kept in the Cache API for
// the next visit). Requests and replies are those of protocol.js.
//
// Two builds of one source: pkg-threads/ runs tract's matrix products on a pool of web workers
// (wasm threads: needs a cross-origin isolated page, SharedArrayBuffer and Atomics.wait), pkg/
// on this worker alone. The threaded one is taken whenever it can run; `init` says which.
import { serve, Transfer } from './protocol.js';

const MODEL_CACHE = 'daftseg-models-v1';
let engine = null;
let manifest = null;
let startFailure = null;

// The engine, or a clear error when init has not run or failed (the page waits for init, so
// this is for a failed start).
function session() {
  if (engine) return engine;
  throw new Error(startFailure ? `the engine did not start: ${startFailure}` : 'the engine has not started yet');
}
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

// Model `id` loaded into the engine (downloaded or from the cache): how, and how long it took.
async function ensureModel(id, emit) {
  if (session().hasModel(id)) return null;
  const entry = manifest.models.find((m) => m.id === id);
  // A modality model is the shared decoder plus its patch (the fine-tuned tensors).
  const refs = [entry.encoder, entry.decoder, ...(entry.decoder_patch ? [entry.decoder_patch] : [])];
  const total = refs.reduce((sum, ref) => sum + ref.bytes, 0);
  let loaded = 0;
  const onBytes = (n) => {
    loaded += n;
    emit('progress', { stage: `loading model ${id}`, fraction: loaded / total });
  };
  const [encoder, decoder, patch] = await Promise.all(refs.map((ref) => modelFile(ref, onBytes)));
  const started = performance.now();
  session().loadModel(id, encoder.bytes, decoder.bytes, patch?.bytes);
  return { id, fromCache: [encoder, decoder, patch].every((f) => !f || f.fromCache), ms: performance.now() - started };
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

const rgbaReply = (result, rgba) => new Transfer({ ...result, rgba }, [rgba.buffer]);

serve(self, {
  async init({ threads }) {
    try {
      const loaded = await loadModule(threads);
      const { Engine } = loaded.pkg;
      const response = await fetch(new URL('models/manifest.json', self.location.href));
      if (!response.ok) throw new Error(`model manifest: HTTP ${response.status}`);
      engine = new Engine(await response.text());
      manifest = engine.manifest();
      return { threads: loaded.threads, singleThreadReason: loaded.reason, manifest };
    } catch (error) {
      startFailure = error?.message ?? String(error);
      throw error;
    }
  },
  // An image, one volume file, or the DICOM files of a series: the engine tells which.
  async open({ names, buffers }) {
    const info = session().open(names, buffers.map((b) => new Uint8Array(b)));
    return rgbaReply({ info }, session().imageRgba());
  },
  async encode({ model }, emit) {
    let route = session().route(model || null);
    let modelLoad = await ensureModel(route.modelId, emit);
    emit('progress', { stage: 'encoding image', fraction: null });
    const started = performance.now();
    let cacheHit = null;
    if (route.needsContent) {
      // The general model's embedding says which modality this is; it stays cached, so a
      // modality model that shares the encoder decodes from it without a second encoder run.
      const before = session().encoderRuns();
      route = session().routeByContent(model || null);
      cacheHit = session().encoderRuns() === before;
      modelLoad = (await ensureModel(route.modelId, emit)) ?? modelLoad;
    }
    const encoded = session().encode(route.modelId);
    return { route, modelLoad, encodeMs: performance.now() - started, cacheHit: cacheHit ?? encoded.cacheHit };
  },
  async showSlice({ z }) {
    return rgbaReply({ z }, session().showSlice(z));
  },
  async setWindow({ window }) {
    const applied = session().setWindow(window);
    return rgbaReply({ applied }, session().imageRgba());
  },
  async segmentBoxes({ model, boxes }) {
    const started = performance.now();
    const labels = session().segmentBoxes(model, Float64Array.from(boxes));
    return new Transfer({ labels, ms: performance.now() - started }, [labels.buffer]);
  },
  async segment3d({ model, boxes, cancel }, emit) {
    const flag = new Int32Array(cancel);
    const started = performance.now();
    const labels = session().segment3d(model, Float64Array.from(boxes), (done, total) => {
      emit('progress', { stage: `3D: slice ${done} of ${total}`, fraction: done / total });
      return Atomics.load(flag, 0) === 0;
    });
    return new Transfer({ labels, ms: performance.now() - started }, [labels.buffer]);
  },
  async exportLabels({ labels, name, slice }) {
    const bytes = session().exportLabels(new Uint16Array(labels), name, slice ?? undefined);
    return new Transfer({ bytes }, [bytes.buffer]);
  },
});
