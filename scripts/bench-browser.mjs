// npm run bench: tract-wasm vs onnxruntime-web in Debian's Chromium (default tiering), each with 1
// and N threads in its own web worker, interleaved step by step; then 3D propagation by
// tract-wasm with 1 and N threads (the DICOM CT series fixture, and a synthetic 40-slice
// volume), and the size of both modules. Prints Markdown for docs/BENCHMARKS.md.
//   node scripts/bench-browser.mjs [--iterations 5] [--threads 2] [--rounds 2] [--image FILE]
//       [--configs t1,tN,o1,oN] [--profile RUNS] [--tract-only] [--no-tiering] [--no-volumes]
// --configs: which configurations, interleaved: t1 (single-thread module), tN (threaded module,
//   N threads), tN-one (threaded module on one thread: the threaded build's own cost), t1-plain
//   and tN-plain (tract's own operators only, daftseg's fused ones off), tN-nopool and
//   tN-nospin (model runs not moved into the pool / its workers not spinning), o1 and oN
//   (onnxruntime-web). Default t1,tN,o1,oN; --tract-only is t1,tN and no 3D.
// --profile RUNS: also each tract configuration's per-operator profile (medians of RUNS).
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
    configs: { type: 'string' },
    profile: { type: 'string', default: '0' },
    'no-volumes': { type: 'boolean', default: false },
    // Chromium's wasm tiering off: everything compiled by TurboFan up front (a diagnosis aid).
    'no-tiering': { type: 'boolean', default: false },
  },
});
const tractOnly = values['tract-only'];
const presets = (n) => ({
  t1: { engine: 'tract', threads: 1, name: 'tract-wasm, 1 thread' },
  tN: { engine: 'tract', threads: n, name: `tract-wasm, ${n} threads` },
  'tN-one': { engine: 'tract', threads: n, oneThread: true, volume: false, name: 'tract-wasm threaded module, 1 thread' },
  't1-plain': { engine: 'tract', threads: 1, fusedOps: false, volume: false, name: 'tract-wasm, 1 thread, tract ops only' },
  'tN-plain': { engine: 'tract', threads: n, fusedOps: false, volume: false, name: `tract-wasm, ${n} threads, tract ops only` },
  'tN-nopool': { engine: 'tract', threads: n, pool: false, volume: false, name: `tract-wasm, ${n} threads, runs not moved into the pool` },
  'tN-nospin': { engine: 'tract', threads: n, spin: false, volume: false, name: `tract-wasm, ${n} threads, pool workers not spinning` },
  o1: { engine: 'ort', threads: 1, name: 'onnxruntime-web, 1 thread' },
  oN: { engine: 'ort', threads: n, name: `onnxruntime-web, ${n} threads` },
});
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
const configNames = (values.configs ?? (tractOnly ? 't1,tN' : 't1,tN,o1,oN')).split(',');
const configs = configNames.map((c) => {
  const preset = presets(threads)[c];
  if (!preset) throw new Error(`unknown configuration ${c} (${Object.keys(presets(threads)).join(', ')})`);
  return preset;
});
const withVolumes = !tractOnly && !values['no-volumes'];
const result = await page.evaluate(
  (args) => window.runThreadBench({ ...args, image: new Uint8Array(args.image).buffer, volumes: args.volumes.map((v) => ({ ...v, buffers: v.buffers?.map((b) => new Uint8Array(b).buffer), voxels: v.voxels && new Uint8Array(v.voxels).buffer })) }),
  { image: [...image], iterations, threads, volumes: withVolumes ? volumes : [], volumeRounds: Number(values.rounds), configs, profileRuns: Number(values.profile) },
);
await browser.close();
server.close();

const find = (name) => result.configs.find((c) => c.name === name);
const lines = [];
lines.push(`Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores (navigator.hardwareConcurrency ${result.hardwareConcurrency}); ${new Date().toISOString().slice(0, 10)}; ` +
  `${result.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? result.userAgent}, ${values['no-tiering'] ? '--no-wasm-dynamic-tiering' : 'default tiering'}; image ${values.image}; one warm-up step, then ${iterations} steps ` +
  `interleaved (each configuration in its own worker: encode, decode; then the next).`, '');
lines.push('| configuration | encoder median ms | decoder median ms | start-up ms | encoder per step | decoder per step |', '|---|---|---|---|---|---|');
for (const c of result.configs) {
  lines.push(`| ${c.name} | ${median(c.encode).toFixed(0)} | ${median(c.decode).toFixed(0)} | ${c.startupMs.toFixed(0)} | ${list(c.encode)} | ${list(c.decode)} |`);
}
const ratio = (a, b, stage) => (a && b ? (median(a[stage]) / median(b[stage])).toFixed(2) : '-');
const p = presets(threads);
const pairs = [
  [`tract-wasm ${threads} threads / 1 thread`, p.tN.name, p.t1.name],
  [`tract-wasm threaded module on 1 thread / single-thread module`, p['tN-one'].name, p.t1.name],
  [`onnxruntime-web ${threads} threads / 1 thread`, p.oN.name, p.o1.name],
  ['tract-wasm / onnxruntime-web, 1 thread', p.t1.name, p.o1.name],
  [`tract-wasm / onnxruntime-web, ${threads} threads`, p.tN.name, p.oN.name],
  ['tract-wasm 1 thread: with / without daftseg\'s fused ops', p.t1.name, p['t1-plain'].name],
  [`tract-wasm ${threads} threads: with / without daftseg's fused ops`, p.tN.name, p['tN-plain'].name],
  [`tract-wasm ${threads} threads: runs moved into the pool / not`, p.tN.name, p['tN-nopool'].name],
  [`tract-wasm ${threads} threads: pool workers spinning / not`, p.tN.name, p['tN-nospin'].name],
].filter(([, a, b]) => find(a) && find(b));
lines.push('', '| ratio | encoder | decoder |', '|---|---|---|');
for (const [label, a, b] of pairs) lines.push(`| ${label} | ${ratio(find(a), find(b), 'encode')} | ${ratio(find(a), find(b), 'decode')} |`);
lines.push('', `Start-up: tract-wasm's is module instantiation (plus, threaded, starting the pool of ${threads} workers); onnxruntime-web's is creating its two sessions.`);
if (result.profileTable) {
  lines.push('', `Per-operator profile (medians of ${values.profile} profiled encodes per configuration, after one warm-up):`, '', result.profileTable);
}
if (result.volumes.length) {
  const names = Object.keys(result.volumes[0].runs);
  // Per slice inside the one long call: the first step (it encodes the first slices), the mean
  // (with several workers, one step encodes several slices and the next ones none), the longest.
  lines.push('', `| 3D propagation (tract-wasm, app path) | ${names.map((n) => `${n} ms`).join(' | ')} | per slice inside the call: first step / mean / longest step ms | rounds |`, `|---|${names.map(() => '---|').join('')}---|---|`);
  for (const v of result.volumes) {
    const runs = names.map((n) => v.runs[n]);
    const steps = runs.map((r) => {
      const all = r.flatMap((run) => run.stepsMs);
      const first = r.map((run) => run.stepsMs[0]);
      const mean = all.reduce((a, b) => a + b, 0) / all.length;
      return `${median(first).toFixed(0)} / ${mean.toFixed(0)} / ${Math.max(...all).toFixed(0)}`;
    });
    lines.push(`| ${v.name} | ${runs.map((r) => median(r.map((run) => run.ms)).toFixed(0)).join(' | ')} | ${steps.join('; ')} | ${runs.map((r) => list(r.map((run) => run.ms))).join(' / ')} |`);
  }
}
const size = (file) => {
  const bytes = readFileSync(file);
  return `${(statSync(file).size / 1e6).toFixed(1)} MB (${(gzipSync(bytes).length / 1e6).toFixed(2)} MB gzipped)`;
};
lines.push('', `Modules: single-thread ${size('www/pkg/daftseg_bg.wasm')}, threaded ${size('www/pkg-threads/daftseg_bg.wasm')}.`);
console.log(lines.join('\n'));
