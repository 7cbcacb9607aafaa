// Benchmark page (npm run bench): tract-wasm (daftseg's Engine) and onnxruntime-web run the same
// ONNX files on the same preprocessed image, one thread each, interleaved iteration by iteration,
// so that both see the same browser state (tiering, memory). Not part of the app.
import init, { Engine } from './pkg/daftseg.js';
import * as ort from '/vendor/onnxruntime-web/ort.wasm.min.mjs';

const out = document.getElementById('bench-output');
const log = (line) => {
  out.textContent += `${line}\n`;
};

async function bytes(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function setup() {
  await init();
  const manifestText = await (await fetch('models/manifest.json')).text();
  const model = JSON.parse(manifestText).models[0];
  const encoderBytes = await bytes(`models/${model.encoder.file}`);
  const decoderBytes = await bytes(`models/${model.decoder.file}`);
  const engine = new Engine(manifestText);
  engine.load_model(model.id, encoderBytes, decoderBytes);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = '/vendor/onnxruntime-web/';
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const encoder = await ort.InferenceSession.create(encoderBytes, options);
  const decoder = await ort.InferenceSession.create(decoderBytes, options);
  return { engine, model, encoder, decoder };
}

let ready = null;

/** Returns per-iteration milliseconds for both engines. */
window.runBench = async (imageBytes, iterations = 5) => {
  ready ||= setup();
  const { engine, model, encoder, decoder } = await ready;
  const info = engine.open_image(new Uint8Array(imageBytes));
  const input = new ort.Tensor('float32', engine.prepared_input(), [1, 3, 256, 256]);
  const ratio = 256 / Math.max(info.width, info.height);
  const box = [info.width / 4, info.height / 4, (info.width * 3) / 4, (info.height * 3) / 4].map((v) => Math.trunc(Math.trunc(v) * ratio));
  const boxTensor = new ort.Tensor('float32', Float32Array.from(box), [1, 4]);
  const result = { tract: { encode: [], decode: [] }, ort: { encode: [], decode: [] }, userAgent: navigator.userAgent };
  const time = async (f) => {
    const t0 = performance.now();
    await f();
    return performance.now() - t0;
  };
  for (let i = 0; i < iterations; i++) {
    result.tract.encode.push(await time(() => engine.bench_encode(model.id)));
    result.tract.decode.push(await time(() => engine.bench_decode(model.id, Float32Array.from(box))));
    let embedding;
    result.ort.encode.push(await time(async () => {
      embedding = (await encoder.run({ image: input })).embedding;
    }));
    result.ort.decode.push(await time(() => decoder.run({ embedding, box: boxTensor })));
    log(`iteration ${i + 1}: tract ${result.tract.encode.at(-1).toFixed(0)} / ${result.tract.decode.at(-1).toFixed(0)} ms, ` +
      `onnxruntime-web ${result.ort.encode.at(-1).toFixed(0)} / ${result.ort.decode.at(-1).toFixed(0)} ms (encode / decode)`);
  }
  return result;
};

document.getElementById('bench-file').addEventListener('change', async (event) => {
  out.textContent = '';
  try {
    const iterations = Number(document.getElementById('bench-iterations').value);
    await window.runBench(await event.target.files[0].arrayBuffer(), iterations);
  } catch (error) {
    log(`error: ${error.message}`);
  }
});

/** The tract encoder alone, n times, inside a web worker as the app runs it. */
window.runWorkerBench = (imageBytes, iterations = 5) =>
  new Promise((resolve, reject) => {
    const worker = new Worker('bench-worker.js', { type: 'module' });
    worker.onmessage = ({ data }) => {
      worker.terminate();
      resolve(data);
    };
    worker.onerror = (event) => reject(new Error(event.message));
    worker.postMessage({ image: imageBytes, n: iterations });
  });

/** A typed array's bytes as base64 (page.evaluate carries strings well, big arrays badly). */
function toBase64(array) {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** One challenge case as the app computes it: encode once, one mask per box, later boxes
 * overwrite earlier ones. Pixels and labels travel as base64. */
window.segmentCase = async (width, height, rgbBase64, boxes) => {
  ready ||= setup();
  const { engine, model } = await ready;
  const rgb = Uint8Array.from(atob(rgbBase64), (c) => c.charCodeAt(0));
  engine.clear_cache();
  engine.open_rgb(width, height, rgb);
  const t0 = performance.now();
  engine.encode(model.id);
  const t1 = performance.now();
  const labels = new Uint16Array(width * height);
  boxes.forEach((box, i) => {
    const mask = engine.segment_box(model.id, ...box);
    for (let p = 0; p < mask.length; p++) if (mask[p]) labels[p] = i + 1;
  });
  const t2 = performance.now();
  return { labels: toBase64(labels), encodeMs: t1 - t0, decodeMs: t2 - t1 };
};

/** One 3D challenge case (grey DxHxW voxels, boxes of 6 numbers) through Engine.segment_volume. */
window.segmentVolume = async (depth, height, width, voxelsBase64, boxes) => {
  ready ||= setup();
  const { engine, model } = await ready;
  const voxels = Uint8Array.from(atob(voxelsBase64), (c) => c.charCodeAt(0));
  engine.clear_cache();
  const t0 = performance.now();
  const labels = engine.segment_volume(model.id, depth, height, width, voxels, Float64Array.from(boxes.flat()));
  const t1 = performance.now();
  return { labels: toBase64(labels), encodeMs: 0, decodeMs: t1 - t0 };
};
