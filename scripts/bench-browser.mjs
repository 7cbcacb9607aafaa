// npm run bench: tract-wasm vs onnxruntime-web in Debian's Chromium (default tiering), each with 1
// and N threads in its own web worker, interleaved step by step; then 3D propagation by
// tract-wasm with 1 and N threads (the DICOM CT series fixture, and a synthetic 40-slice
// volume), and the size of both modules. Prints Markdown for docs/BENCHMARKS.md.
//   node scripts/bench-browser.mjs [--iterations 5] [--threads 2] [--rounds 2] [--image FILE] [--tract-only]
// --tract-only: tract-wasm's two configurations alone (no onnxruntime-web worker alive), no 3D.
// --no-tiering: Chromium with --no-wasm-dynamic-tiering.
import { execSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from './serve.mjs';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
    image: { type: 'string', default: 'tests/fixtures/images/ct_lung.png' },
    'tract-only': { type: 'boolean', default: false },
    // Chromium's wasm tiering off: everything compiled by TurboFan up front (a diagnosis aid).
    'no-tiering': { type: 'boolean', default: false },
  },
});
const tractOnly = values['tract-only'];
const iterations = Number(values.iterations);
const threads = Number(values.threads);
const image = readFileSync(values.image);

// The DICOM CT series as the app opens it (lung window, the tumour's box over slices 1-3).
const seriesDir = 'tests/fixtures/medical/ct_lung1_series';
const series = readdirSync(seriesDir).sort();
// A synthetic 40-slice volume (an ellipsoid over a deterministic texture), box over all slices;
// models/bench_native.py builds the same voxels.
const [D, H, W] = [40, 256, 256];
const voxels = new Uint8Array(D * H * W);
for (let z = 0; z < D; z++) {
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inside = ((x - 128) / 60) ** 2 + ((y - 128) / 45) ** 2 + ((z - 20) / 18) ** 2 < 1;
      voxels[(z * H + y) * W + x] = 40 + (inside ? 160 : 0) + ((x * 7 + y * 13 + z * 29) % 23);
    }
  }
}
const volumes = [
  {
    name: `DICOM CT series (${series.length} slices 512x512, box over 3)`,
    names: series,
    buffers: series.map((f) => [...readFileSync(join(seriesDir, f))]),
    window: { kind: 'preset', name: 'lung' },
    boxes: [206, 347, 1, 229, 372, 3],
  },
  { name: `synthetic ${D} slices ${W}x${H}, box over all ${D}`, depth: D, height: H, width: W, voxels: [...voxels], boxes: [60, 75, 0, 196, 181, D - 1] },
];

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const list = (v) => v.map((x) => x.toFixed(0)).join(', ');

const executablePath = execSync('command -v chromium', { shell: '/bin/bash' }).toString().trim();
const server = await startServer({ port: 0 });
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ...(values['no-tiering'] ? ['--js-flags=--no-wasm-dynamic-tiering'] : [])],
});
const page = await browser.newPage();
page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
page.on('console', (message) => console.error(`page: ${message.text()}`));
await page.goto(`${origin}/bench.html`);
const result = await page.evaluate(
  (args) => window.runThreadBench({ ...args, image: new Uint8Array(args.image).buffer, volumes: args.volumes.map((v) => ({ ...v, buffers: v.buffers?.map((b) => new Uint8Array(b).buffer), voxels: v.voxels && new Uint8Array(v.voxels).buffer })) }),
  { image: [...image], iterations, threads, volumes: tractOnly ? [] : volumes, volumeRounds: Number(values.rounds), engines: tractOnly ? ['tract'] : ['tract', 'ort'] },
);
await browser.close();
server.close();

const name = (c) => `${c.engine === 'tract' ? 'tract-wasm' : 'onnxruntime-web'}, ${c.threads} thread${c.threads > 1 ? 's' : ''}`;
const find = (engine, n) => result.configs.find((c) => c.engine === engine && c.threads === n);
const lines = [];
lines.push(`Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores (navigator.hardwareConcurrency ${result.hardwareConcurrency}); ${new Date().toISOString().slice(0, 10)}; ` +
  `${result.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? result.userAgent}, ${values['no-tiering'] ? '--no-wasm-dynamic-tiering' : 'default tiering'}; image ${values.image}; one warm-up step, then ${iterations} steps ` +
  `interleaved (each configuration in its own worker: encode, decode; then the next).`, '');
lines.push('| configuration | encoder median ms | decoder median ms | start-up ms | encoder per step | decoder per step |', '|---|---|---|---|---|---|');
for (const c of result.configs) {
  lines.push(`| ${name(c)} | ${median(c.encode).toFixed(0)} | ${median(c.decode).toFixed(0)} | ${c.startupMs.toFixed(0)} | ${list(c.encode)} | ${list(c.decode)} |`);
}
const ratio = (a, b, stage) => (median(a[stage]) / median(b[stage])).toFixed(2);
if (tractOnly) {
  lines.push('', `| tract-wasm ${threads} threads / 1 thread | encoder ${ratio(find('tract', threads), find('tract', 1), 'encode')} | decoder ${ratio(find('tract', threads), find('tract', 1), 'decode')} |`);
  console.log(lines.join('\n'));
  process.exit(0);
}
lines.push('', '| ratio | encoder | decoder |', '|---|---|---|');
lines.push(`| tract-wasm ${threads} threads / 1 thread | ${ratio(find('tract', threads), find('tract', 1), 'encode')} | ${ratio(find('tract', threads), find('tract', 1), 'decode')} |`);
lines.push(`| onnxruntime-web ${threads} threads / 1 thread | ${ratio(find('ort', threads), find('ort', 1), 'encode')} | ${ratio(find('ort', threads), find('ort', 1), 'decode')} |`);
for (const n of [1, threads]) {
  lines.push(`| tract-wasm / onnxruntime-web, ${n} thread${n > 1 ? 's' : ''} | ${ratio(find('tract', n), find('ort', n), 'encode')} | ${ratio(find('tract', n), find('ort', n), 'decode')} |`);
}
lines.push('', `Start-up: tract-wasm's is module instantiation (plus, threaded, starting the pool of ${threads} workers); onnxruntime-web's is creating its two sessions.`, '');
lines.push(`| 3D propagation (tract-wasm, app path) | 1 thread ms | ${threads} threads ms | ratio | rounds |`, '|---|---|---|---|---|');
for (const v of result.volumes) {
  const [one, many] = [v.ms[1], v.ms[threads]];
  lines.push(`| ${v.name} | ${median(one).toFixed(0)} | ${median(many).toFixed(0)} | ${(median(many) / median(one)).toFixed(2)} | ${list(one)} / ${list(many)} |`);
}
const size = (file) => {
  const bytes = readFileSync(file);
  return `${(statSync(file).size / 1e6).toFixed(1)} MB (${(gzipSync(bytes).length / 1e6).toFixed(2)} MB gzipped)`;
};
lines.push('', `Modules: single-thread ${size('www/pkg/daftseg_bg.wasm')}, threaded ${size('www/pkg-threads/daftseg_bg.wasm')}.`);
console.log(lines.join('\n'));
