// The worker owns the wasm module and the session in it (the open study, its window and slice,
// the loaded models, the embedding cache): the page keeps none of that. It fetches the manifest
// and the model files from this origin (with progress, sha256 checked, kept in the Cache API for
// the next visit). Requests and replies are those of protocol.js.
//
// Two builds of one source: pkg-threads/ runs tract's matrix products on a pool of web workers
// (wasm threads: needs a cross-origin isolated page, SharedArrayBuffer and Atomics.wait), pkg/
// on this worker alone. The threaded one is taken whenever it can run; `init` says which.
//
// Idle time encodes the open volume's slices (per step, one slice per worker of the thread pool,
// all at once, so a request waits for at most one encoder run), and every embedding is also kept
// in a persistent store (embedding-store.js), so that a reload, or another model with the same
// encoder, encodes nothing twice.
import { serve, Transfer } from './protocol.js';
import { openEmbeddingStore, DEFAULT_BUDGET } from './embedding-store.js';

const MODEL_CACHE = 'daftseg-models-v1';
let engine = null;
let manifest = null;
let startFailure = null;
let wasmMemory = null;
// The persistent store (null when the browser has none: `storeProblem` says why), and what it
// did in this session.
let store = null;
let storeProblem = 'not opened yet';
const storeCounts = { read: 0, written: 0, damaged: 0, notKept: 0 };
// Idle-time encoding: on unless the page turns it off; the model is the last one routed; ranges
// are the drawn boxes' slice ranges.
const background = { enabled: true, model: null, ranges: [] };
// Segment 3D stages at most this many stored slices at once (4 MiB each); the rest are encoded.
const MAX_STAGED = 32;

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

// Downloads in flight, by sha256: a model file asked for again while it downloads (the page
// prefetches the general model while the user picks a file) waits for the same download.
const downloading = new Map();
function modelFileOnce(ref, onBytes) {
  if (!downloading.has(ref.sha256)) {
    downloading.set(ref.sha256, modelFile(ref, onBytes).finally(() => downloading.delete(ref.sha256)));
  }
  return downloading.get(ref.sha256);
}

// The files of a manifest entry: a modality model is the shared decoder plus its patch (the
// fine-tuned tensors).
const entryFiles = (entry) => [entry.encoder, entry.decoder, ...(entry.decoder_patch ? [entry.decoder_patch] : [])];

// Model `id` loaded into the engine (downloaded or from the cache): how, and how long it took.
async function ensureModel(id, emit) {
  if (session().hasModel(id)) return null;
  const refs = entryFiles(manifest.models.find((m) => m.id === id));
  const total = refs.reduce((sum, ref) => sum + ref.bytes, 0);
  let loaded = 0;
  const onBytes = (n) => {
    loaded += n;
    emit('progress', { stage: `loading model ${id}`, fraction: loaded / total });
  };
  const [encoder, decoder, patch] = await Promise.all(refs.map((ref) => modelFileOnce(ref, onBytes)));
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
      const exports = await pkg.default();
      await pkg.initThreadPool(threads);
      pkg.useThreadPool();
      return { pkg, exports, threads, reason: null };
    } catch (error) {
      // Not built (no nightly toolchain), or the browser refused: the plain module still works.
      reason = `the threaded module failed to start (${error?.message ?? error})`;
    }
  }
  const pkg = await import('./pkg/daftseg.js');
  const exports = await pkg.default();
  return { pkg, exports, threads: 1, reason };
}

const rgbaReply = (result, rgba) => new Transfer({ ...result, rgba }, [rgba.buffer]);

// Run `work` (one engine call that may encode) with the persistent store: first stage the
// stored entries of the images it will encode (`slices` of the volume, or the shown image when
// null), then write what it encoded and delete what it found damaged.
async function withStore(model, slices, work) {
  let staged = 0;
  if (store) {
    const names = session().storeNames(model, slices ? Uint32Array.from(slices) : undefined);
    for (const name of names.slice(0, MAX_STAGED)) {
      const bytes = await store.get(name);
      if (bytes) {
        session().stageEntry(name, bytes);
        staged += 1;
      }
    }
  }
  try {
    return work();
  } finally {
    const { saved, damaged, notKept } = session().takeStoreWork();
    storeCounts.notKept = notKept;
    if (store) {
      for (const { name } of damaged) {
        storeCounts.damaged += 1;
        await store.delete(name);
      }
      for (const { name, bytes } of saved) if (await store.put(name, bytes)) storeCounts.written += 1;
      // Staged entries the engine did not find damaged were used (a cancelled Segment 3D may
      // leave some unread: counted as read all the same).
      storeCounts.read += staged - damaged.length;
    }
  }
}

function stats() {
  const model = background.model;
  let encoded = null;
  try {
    if (model && session().hasModel(model)) encoded = session().encodedSlices(model);
  } catch {
    encoded = null; // nothing open
  }
  return {
    encoderRuns: engine ? engine.encoderRuns() : 0,
    cachedEmbeddings: engine ? engine.cachedEmbeddings() : 0,
    encoded,
    background: { enabled: background.enabled, model, steps: served.steps(), maxStepsWaited: served.stepsWaited() },
    wasmMemoryBytes: wasmMemory ? wasmMemory.buffer.byteLength : null,
    store: store ? { ...store.summary(), ...storeCounts } : { unavailable: storeProblem },
  };
}

// One step of idle time: encode the next slice the user will need (the engine's order), if
// any. True when it encoded one.
async function backgroundStep(emit) {
  const model = background.model;
  if (!engine || !background.enabled || !model || !session().hasModel(model)) return false;
  // One slice per worker of the thread pool, encoded together; none when every slice is
  // encoded, the memory budget is reached, or no volume is open.
  const slices = [...session().nextSlicesToEncode(model, Uint32Array.from(background.ranges))];
  if (slices.length === 0) {
    // Finding nothing to do may have found slices already encoded (the same pixels as another
    // slice): the bar shows them too.
    emit('encoded', stats());
    return false;
  }
  await withStore(model, slices, () => session().encodeSlices(model, Uint32Array.from(slices)));
  emit('encoded', stats());
  return true;
}

const served = serve(self, {
  async init({ threads, storeBudget, storeBackend, background: enabled }) {
    background.enabled = enabled ?? true;
    try {
      const loaded = await loadModule(threads);
      const { Engine } = loaded.pkg;
      wasmMemory = loaded.exports?.memory ?? null;
      const response = await fetch(new URL('models/manifest.json', self.location.href));
      if (!response.ok) throw new Error(`model manifest: HTTP ${response.status}`);
      engine = new Engine(await response.text());
      manifest = engine.manifest();
      const opened = await openEmbeddingStore({ budget: storeBudget ?? DEFAULT_BUDGET, prefer: storeBackend ?? 'opfs' });
      store = opened.store;
      storeProblem = opened.reason;
      return { threads: loaded.threads, singleThreadReason: loaded.reason, manifest, stats: stats() };
    } catch (error) {
      startFailure = error?.message ?? String(error);
      throw error;
    }
  },
  // An image, one volume file, or the DICOM files of a series: the engine tells which.
  // `cancel` (shared memory, when the page is isolated): 1 stops the reading.
  async open({ names, buffers, cancel }, emit) {
    const flag = new Int32Array(cancel ?? new ArrayBuffer(4));
    const mib = Math.round(buffers.reduce((sum, b) => sum + b.byteLength, 0) / 2 ** 20);
    const stage = `opening ${names.length > 1 ? `${names.length} files, ` : ''}${mib} MiB`;
    let shown = -1;
    const info = session().open(names, buffers.map((b) => new Uint8Array(b)), (done, total) => {
      // A volume reports every chunk: the page hears of each percent.
      const percent = Math.floor((100 * done) / Math.max(1, total));
      if (percent !== shown) {
        shown = percent;
        emit('progress', { stage, fraction: done / Math.max(1, total) });
      }
      return Atomics.load(flag, 0) === 0;
    });
    background.model = null; // until the new study is routed
    return rgbaReply({ info }, session().imageRgba());
  },
  async encode({ model }, emit) {
    let route = session().route(model || null);
    let modelLoad = await ensureModel(route.modelId, emit);
    emit('progress', { stage: 'encoding image', fraction: null });
    const started = performance.now();
    const before = session().encoderRuns();
    if (route.needsContent) {
      // The general model's embedding says which modality this is; it stays cached, so a
      // modality model that shares the encoder decodes from it without a second encoder run.
      const general = route.modelId;
      route = await withStore(general, null, () => session().routeByContent(model || null));
      modelLoad = (await ensureModel(route.modelId, emit)) ?? modelLoad;
    }
    await withStore(route.modelId, null, () => session().encode(route.modelId));
    // Idle time encodes the other slices with this model.
    background.model = route.modelId;
    const cacheHit = session().encoderRuns() === before;
    return { route, modelLoad, encodeMs: performance.now() - started, cacheHit, stats: stats() };
  },
  async showSlice({ z }) {
    return rgbaReply({ z }, session().showSlice(z));
  },
  async setWindow({ window }) {
    const applied = session().setWindow(window);
    return rgbaReply({ applied }, session().imageRgba());
  },
  async segmentBoxes({ model, boxes, clicks }) {
    const started = performance.now();
    const before = session().encoderRuns();
    const labels = await withStore(model, null, () => session().segmentBoxes(model, Float64Array.from(boxes), Float64Array.from(clicks ?? [])));
    const encoderRuns = session().encoderRuns() - before;
    return new Transfer({ labels, ms: performance.now() - started, encoderRuns }, [labels.buffer]);
  },
  async segment3d({ model, boxes, cancel }, emit) {
    const flag = new Int32Array(cancel);
    const started = performance.now();
    const before = session().encoderRuns();
    // Slices already encoded (in idle time, or stored) are reused; the rest are encoded in
    // propagation order.
    const slices = [];
    for (let i = 0; i + 5 < boxes.length; i += 6) {
      const [low, high] = [boxes[i + 2], boxes[i + 5]].sort((a, b) => a - b);
      const middle = Math.floor((low + high) / 2);
      for (let z = middle; z <= high; z++) slices.push(z);
      for (let z = middle - 1; z >= low; z--) slices.push(z);
    }
    const labels = await withStore(model, [...new Set(slices)], () =>
      session().segment3d(model, Float64Array.from(boxes), (done, total) => {
        emit('progress', { stage: `3D: slice ${done} of ${total}`, fraction: done / total });
        return Atomics.load(flag, 0) === 0;
      }),
    );
    const encoderRuns = session().encoderRuns() - before;
    return new Transfer({ labels, ms: performance.now() - started, encoderRuns }, [labels.buffer]);
  },
  async exportLabels({ labels, name, slice }) {
    const bytes = session().exportLabels(new Uint16Array(labels), name, slice ?? undefined);
    return new Transfer({ bytes }, [bytes.buffer]);
  },
  async applyEdits({ labels, width, height, edits }) {
    const edited = session().applyEdits(new Uint16Array(labels), width, height, edits);
    return new Transfer({ labels: edited }, [edited.buffer]);
  },
  async exportSeg({ labels, segments, algorithmName, createdUnixS }) {
    const bytes = session().exportSeg(new Uint16Array(labels), segments, algorithmName, createdUnixS);
    return new Transfer({ bytes }, [bytes.buffer]);
  },
  // Start downloading model `model`'s files into the offline cache, and answer at once: a file
  // opened meanwhile goes first, and its model load waits for these downloads.
  async prefetch({ model }) {
    const entry = manifest?.models.find((m) => m.id === model);
    if (entry) for (const ref of entryFiles(entry)) modelFileOnce(ref, () => {}).catch(() => {});
    return null;
  },
  async openLabels({ name, buffer }) {
    const { labels, objects } = session().openLabels(name, new Uint8Array(buffer));
    return new Transfer({ labels, objects }, [labels.buffer]);
  },
  async measure({ labels }) {
    return session().measure(new Uint16Array(labels));
  },
  async setBackground({ enabled, ranges }) {
    background.enabled = Boolean(enabled);
    background.ranges = (ranges ?? []).map((z) => Math.max(0, Math.trunc(z)));
    return stats();
  },
  async stats() {
    return stats();
  },
  async setStoreBudget({ bytes }) {
    if (store && Number.isFinite(bytes) && bytes >= 0) await store.setBudget(bytes);
    return stats();
  },
  async clearStore() {
    await store?.clear();
    return stats();
  },
}, backgroundStep);
