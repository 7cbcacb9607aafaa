// Benchmark page (npm run bench): tract-wasm (daftseg's Engine) and onnxruntime-web run the same
// ONNX files on the same preprocessed image, with 1 and N threads, each in its own web worker as
// the app runs it, interleaved step by step so that all see the same browser state. Also the
// page-side helpers of the browser evaluation (scripts/eval-browser.mjs). Not part of the app.
import init, { Engine, profileTable as profileTableOf } from './pkg/daftseg.js';

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
  engine.loadModel(model.id, encoderBytes, decoderBytes);
  return { engine, model };
}

let ready = null;

/** One benchmark worker (bench-worker.js); `call` answers its messages in order. */
function benchWorker() {
  const worker = new Worker('bench-worker.js', { type: 'module' });
  let last = Promise.resolve();
  const call = (message) => {
    last = last.then(() => new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => (data.ok ? resolve(data.result) : reject(new Error(data.error)));
      worker.onerror = (event) => reject(new Error(event.message));
      worker.postMessage(message);
    }));
    return last;
  };
  return { call, terminate: () => worker.terminate() };
}
window.benchWorker = benchWorker; // tests/browser/threads.test.mjs drives it too

/** The benchmark's configurations: tract-wasm and onnxruntime-web, each with 1 and `threads`
 * threads, unless `configs` lists others ({ engine, threads, module, oneThread, fusedOps, name }). */
function benchConfigs({ threads, engines, configs }) {
  const list = configs ?? engines.flatMap((engine) => [1, threads].map((n) => ({ engine, threads: n })));
  return list.map((c) => ({
    name: c.name ?? `${c.engine === 'tract' ? 'tract-wasm' : 'onnxruntime-web'}, ${c.threads} thread${c.threads > 1 ? 's' : ''}`,
    ...c,
    encode: [],
    decode: [],
  }));
}

/** Each configuration in its own worker (one warm-up step each first), interleaved step by
 * step; then, for tract configurations, `profileRuns` profiled encodes each (per-node medians),
 * and 3D propagation of each volume with every tract configuration marked `volume` (all of
 * them by default), interleaved round by round. Milliseconds. */
window.runThreadBench = async ({ image, iterations = 5, threads = 2, volumes = [], volumeRounds = 2, engines = ['tract', 'ort'], configs: explicit, profileRuns = 0 }) => {
  const configs = benchConfigs({ threads, engines, configs: explicit });
  for (const config of configs) {
    config.worker = benchWorker();
    const { worker, encode, decode, name, ...setup } = config;
    config.startupMs = (await worker.call({ type: 'setup', image, ...setup })).startupMs;
    await worker.call({ type: 'step' });
    log(`${config.name}: ready (start-up ${config.startupMs.toFixed(0)} ms)`);
  }
  for (let i = 0; i < iterations; i++) {
    for (const config of configs) {
      const step = await config.worker.call({ type: 'step' });
      config.encode.push(step.encodeMs);
      config.decode.push(step.decodeMs);
    }
    log(`iteration ${i + 1}: ${configs.map((c) => `${c.name}: ${c.encode.at(-1).toFixed(0)}/${c.decode.at(-1).toFixed(0)}`).join(', ')} ms`);
  }
  const tract = configs.filter((c) => c.engine === 'tract');
  for (const config of configs) if (config.engine !== 'tract') config.worker.terminate();
  if (profileRuns > 0) {
    for (const config of tract) {
      config.profile = await config.worker.call({ type: 'profile', runs: profileRuns });
      log(`profiled ${config.name}`);
    }
  }
  const profileTable = profileRuns > 0 ? await window.profileTable(tract.map((c) => [c.name, c.profile])) : null;
  const volumeConfigs = tract.filter((c) => c.volume !== false);
  const volumeResults = volumes.map((volume) => ({ name: volume.name, runs: Object.fromEntries(volumeConfigs.map((c) => [c.name, []])) }));
  for (let round = 0; round < volumeRounds; round++) {
    for (const [v, volume] of volumes.entries()) {
      for (const config of volumeConfigs) {
        const run = await config.worker.call({ type: 'volume', ...volume });
        volumeResults[v].runs[config.name].push(run);
        log(`3D ${volume.name}, ${config.name}: ${run.ms.toFixed(0)} ms`);
      }
    }
  }
  for (const config of configs) config.worker.terminate();
  return {
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency,
    configs: configs.map(({ worker, profile, ...rest }) => rest),
    profileTable,
    volumes: volumeResults,
  };
};

/** `daftseg bench --profile`'s table for per-node medians, made by the core. */
window.profileTable = async (columns) => {
  ready ||= setup();
  await ready;
  return profileTableOf(columns);
};

/** A typed array's bytes as base64 (page.evaluate carries strings well, big arrays badly). */
function toBase64(array) {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** One challenge case through the app's own path: the engine encodes once and paints one label
 * per box (later boxes over earlier ones). Pixels and labels travel as base64. */
window.segmentCase = async (width, height, rgbBase64, boxes) => {
  ready ||= setup();
  const { engine, model } = await ready;
  const rgb = Uint8Array.from(atob(rgbBase64), (c) => c.charCodeAt(0));
  engine.clearCache();
  engine.openRgb('case', width, height, rgb);
  const t0 = performance.now();
  engine.encode(model.id);
  const t1 = performance.now();
  const labels = engine.segmentBoxes(model.id, Float64Array.from(boxes.flat()));
  const t2 = performance.now();
  return { labels: toBase64(labels), encodeMs: t1 - t0, decodeMs: t2 - t1 };
};

/** One 3D challenge case (grey DxHxW voxels, boxes of 6 numbers) through Engine.segmentGreyVolume. */
window.segmentVolume = async (depth, height, width, voxelsBase64, boxes) => {
  ready ||= setup();
  const { engine, model } = await ready;
  const voxels = Uint8Array.from(atob(voxelsBase64), (c) => c.charCodeAt(0));
  engine.clearCache();
  const t0 = performance.now();
  const labels = engine.segmentGreyVolume(model.id, [depth, height, width], voxels, Float64Array.from(boxes.flat()));
  const t1 = performance.now();
  return { labels: toBase64(labels), encodeMs: 0, decodeMs: t1 - t0 };
};

document.getElementById('bench-file').addEventListener('change', async (event) => {
  out.textContent = '';
  try {
    const iterations = Number(document.getElementById('bench-iterations').value);
    await window.runThreadBench({ image: await event.target.files[0].arrayBuffer(), iterations });
  } catch (error) {
    log(`error: ${error.message}`);
  }
});
