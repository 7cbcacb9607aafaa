// Benchmark worker (npm run bench; not part of the app): one engine in one worker, as the app
// runs it. tract-wasm with 1 thread is the single-thread module (pkg/), with N > 1 threads the
// threaded module (pkg-threads/) on a pool of N; onnxruntime-web with N threads. The page drives
// several of these workers in turn, so every configuration sees the same browser state.
//   { type: 'setup', engine: 'tract' | 'ort', threads, image, module, oneThread, fusedOps,
//     pool, spin } -> { startupMs }. tract only: `module` 'threads' takes the threaded module
//     even for one thread; `oneThread` runs it on this worker alone (the threaded build's own
//     cost); `fusedOps: false` runs tract's own operators only (daftseg's fused ones off);
//     `pool: false` / `spin: false` turn off moving runs into the pool / its workers spinning.
//   { type: 'step' } -> { encodeMs, decodeMs }: one encoder run and one decoder run
//   { type: 'profile', runs } -> per-node medians of the encoder's plan (Engine.benchProfile)
//   { type: 'embedding' } -> { values, attention, depthwise, layerNorm }: one encoder run's
//     output, and how many subgraphs daftseg's fused operators replaced
//   { type: 'volume', names, buffers, window, boxes } -> { ms, stepsMs }: 3D propagation
//     (tract) of a volume file (or DICOM series) opened as the app opens it, through a window;
//     stepsMs: the time of each propagation step (one slice: encode and decode)
//   { type: 'volume', depth, height, width, voxels, boxes } -> the same on raw voxels
//   { type: 'segment', image, boxes } -> { labels }: an image file's label map, box i = label i
//     (tract; tests/browser/threads.test.mjs compares thread counts on the golden cases)
let bench = null;

async function tract(threads, module) {
  const t0 = performance.now();
  const threaded = threads > 1 || module === 'threads';
  const pkg = await import(threaded ? './pkg-threads/daftseg.js' : './pkg/daftseg.js');
  await pkg.default();
  if (threaded) {
    await pkg.initThreadPool(Math.max(threads, 1));
    pkg.useThreadPool();
  }
  return { pkg, startupMs: performance.now() - t0 };
}

async function modelFiles() {
  const manifestText = await (await fetch('models/manifest.json')).text();
  const model = JSON.parse(manifestText).models[0];
  const get = async (f) => new Uint8Array(await (await fetch(`models/${f}`)).arrayBuffer());
  return { manifestText, model, encoder: await get(model.encoder.file), decoder: await get(model.decoder.file) };
}

/** The encoder input and the decoder's box (the middle half, in the 256 frame), as the app makes them. */
function prepare(engine, image) {
  const info = engine.open(['bench image'], [new Uint8Array(image)]);
  const ratio = 256 / Math.max(info.width, info.height);
  const box = [info.width / 4, info.height / 4, (info.width * 3) / 4, (info.height * 3) / 4].map((v) => Math.trunc(Math.trunc(v) * ratio));
  return { input: engine.preparedInput(), box: Float32Array.from(box) };
}

const setups = {
  async tract({ threads, image, module, oneThread = false, fusedOps = true, pool = true, spin = true }) {
    const { pkg, startupMs } = await tract(threads, module);
    const files = await modelFiles();
    const engine = new pkg.Engine(files.manifestText);
    engine.benchSettings(fusedOps, oneThread, pool, spin);
    engine.loadModel(files.model.id, files.encoder, files.decoder);
    const { box } = prepare(engine, image);
    const id = files.model.id;
    return {
      startupMs,
      step() {
        const t0 = performance.now();
        engine.benchEncode(id);
        const t1 = performance.now();
        engine.benchDecode(id, box);
        return { encodeMs: t1 - t0, decodeMs: performance.now() - t1 };
      },
      profile({ runs }) {
        return engine.benchProfile(id, runs);
      },
      embedding() {
        engine.benchEncode(id);
        return engine.benchEmbedding(id);
      },
      segment({ image: file, boxes }) {
        // The app's own path: the engine paints the labels.
        engine.open(['case image'], [new Uint8Array(file)]);
        return { labels: engine.segmentBoxes(id, Float64Array.from(boxes.flat())) };
      },
      volume({ names, buffers, window, depth, height, width, voxels, boxes }) {
        engine.clearCache();
        // The time of each step of the one long call, from its progress callbacks.
        const marks = [];
        const progress = () => {
          marks.push(performance.now());
          return true;
        };
        let t0;
        if (names) {
          engine.open(names, buffers.map((b) => new Uint8Array(b)));
          if (window) engine.setWindow(window);
          t0 = performance.now();
          engine.segment3d(id, Float64Array.from(boxes), progress);
        } else {
          t0 = performance.now();
          engine.segmentGreyVolume(id, [depth, height, width], new Uint8Array(voxels), Float64Array.from(boxes), progress);
        }
        const ms = performance.now() - t0;
        const stepsMs = marks.map((mark, i) => mark - (i ? marks[i - 1] : t0));
        return { ms, stepsMs };
      },
    };
  },
  async ort({ threads, image }) {
    const ort = await import('/vendor/onnxruntime-web/ort.wasm.min.mjs');
    const plain = await import('./pkg/daftseg.js');
    await plain.default();
    const files = await modelFiles();
    const { input, box } = prepare(new plain.Engine(files.manifestText), image);
    const t0 = performance.now();
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = '/vendor/onnxruntime-web/';
    // No spinning between runs: an idle onnxruntime thread spinning would take a core from the
    // configuration that runs next (tract waits on its pool without spinning).
    const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all', extra: { session: { intra_op: { allow_spinning: '0' } } } };
    const encoder = await ort.InferenceSession.create(files.encoder, options);
    const decoder = await ort.InferenceSession.create(files.decoder, options);
    const startupMs = performance.now() - t0;
    const image256 = new ort.Tensor('float32', input, [1, 3, 256, 256]);
    // The decoder takes prompt points: a box is its two corners (labels 2 and 3).
    const points = new ort.Tensor('float32', box, [1, 2, 2]);
    const labels = new ort.Tensor('float32', Float32Array.from([2, 3]), [1, 2]);
    return {
      startupMs,
      async step() {
        const t0 = performance.now();
        const { embedding } = await encoder.run({ image: image256 });
        const t1 = performance.now();
        await decoder.run({ embedding, points, labels });
        return { encodeMs: t1 - t0, decodeMs: performance.now() - t1 };
      },
    };
  },
};

const handlers = {
  async setup(data) {
    bench = await setups[data.engine](data);
    return { startupMs: bench.startupMs };
  },
  step: () => bench.step(),
  profile: (data) => bench.profile(data),
  embedding: () => bench.embedding(),
  volume: (data) => bench.volume(data),
  segment: (data) => bench.segment(data),
};

self.onmessage = async ({ data }) => {
  try {
    self.postMessage({ ok: true, result: await handlers[data.type](data) });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error?.message ?? error) });
  }
};
