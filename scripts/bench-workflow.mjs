// The 3D workflow in the real app (Chromium, the threaded module), with idle-time encoding off
// ("before": the app as it was) and on ("after"), interleaved, each run in a fresh browser
// profile (nothing stored): open a CT volume, scroll for 20 s, draw one box and give it a range
// of 10 slices, press Segment 3D; the time from the press to the labels. Then the worker's
// memory: the 6-slice CT series fixture once every slice is encoded, and a synthetic 512x512x300
// CT once idle time has filled the memory budget. Prints Markdown for docs/BENCHMARKS.md.
//   node scripts/bench-workflow.mjs [--rounds 2] [--volume FILE] [--box x0,y0,z0,x1,y1,z1] [--skip-memory]
// --rounds 0: the memory measurements alone.
// The default volume is pyradiomics' lung1 CT (512x512x48), which models/sources.py's `get`
// unpacks; the box surrounds its tumour (label voxels x 206-229, y 347-372, z 32-34) over z 28-37.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from './serve.mjs';
import { dragBox } from '../tests/browser/helpers.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    volume: { type: 'string', default: 'models/.cache/packages/pyradiomics-3.1.0/pyradiomics-3.1.0/data/lung1_image.nrrd' },
    box: { type: 'string', default: '196,337,28,239,382,37' },
    'skip-memory': { type: 'boolean', default: false },
  },
});
if (!existsSync(values.volume)) {
  console.error(`${values.volume} is missing: run \`bash models/setup.sh && models/.venv/bin/python -c "from models import sources; sources.get('pyradiomics==3.1.0', 'pyradiomics-3.1.0/data/lung1_image.nrrd')"\` (it unpacks the package), or pass --volume`);
  process.exit(1);
}
const [bx0, by0, bz0, bx1, by1, bz1] = values.box.split(',').map(Number);
const TIMEOUT = 600_000;
const MiB = 1024 * 1024;

const executablePath = execSync('command -v chromium', { shell: '/bin/bash' }).toString().trim();
const server = await startServer({ port: 0 });
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-precise-memory-info'],
});

async function freshPage(background) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript((on) => localStorage.setItem('daftseg.background', on ? 'on' : 'off'), background);
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  await page.goto(`${origin}/`);
  return { context, page };
}
const waitReady = (page) => page.waitForFunction(() => document.querySelector('#status').textContent === 'ready', null, { timeout: TIMEOUT, polling: 50 });
async function showSlice(page, z) {
  await page.locator('#slice').fill(String(z));
  await page.waitForFunction((want) => document.querySelector('#slice-label').textContent.startsWith(`${want} /`), z, { timeout: TIMEOUT, polling: 50 });
}
const runs = (page) => page.locator('#encoder-runs').getAttribute('data-runs').then(Number);
const encodedCount = (page) => page.locator('#slice-encoded').getAttribute('data-encoded').then(Number);

async function workflow(background) {
  const { context, page } = await freshPage(background);
  await page.setInputFiles('#open-file', values.volume);
  await waitReady(page);
  const info = await page.evaluate(() => ({ depth: Number(document.querySelector('#slice').max) + 1, size: document.querySelector('#volume-notes').textContent.match(/(\d+)×(\d+)×/).slice(1).map(Number) }));
  // 20 s of scrolling, a slice a second: up through the box's range and back down to its middle.
  const middle = Math.floor((bz0 + bz1) / 2);
  const path = [];
  for (let z = bz0 - 4; path.length < 10; z++) path.push(z);
  while (path.length < 20) path.push(path[path.length - 1] - 1 < middle ? middle : path[path.length - 1] - 1);
  const scrollStart = Date.now();
  for (const [i, z] of path.entries()) {
    await showSlice(page, Math.max(0, Math.min(info.depth - 1, z)));
    const wait = scrollStart + (i + 1) * 1000 - Date.now();
    if (wait > 0) await page.waitForTimeout(wait);
  }
  await showSlice(page, middle);
  await waitReady(page);
  await dragBox(page, [bx0, by0, bx1, by1], info.size[0], info.size[1]);
  await page.waitForFunction(() => document.querySelector('#object-list li')?.dataset.mask === '1' && document.querySelector('#status').textContent === 'ready', null, { timeout: TIMEOUT, polling: 50 });
  await showSlice(page, bz0);
  await page.click('#z-bottom');
  await showSlice(page, bz1);
  await page.click('#z-top');
  await waitReady(page);
  const encodedBefore = await encodedCount(page);
  const runsBefore = await runs(page);
  const pressed = Date.now();
  await page.click('#segment-3d');
  await page.waitForFunction(() => !document.querySelector('#export-nifti').disabled, null, { timeout: TIMEOUT, polling: 20 });
  const ms = Date.now() - pressed;
  const during = Number(await page.locator('#timings').getAttribute('data-encoder-runs3d'));
  await context.close();
  return { ms, encodedBefore, runsBefore, during };
}

// ---- the workflow, before/after interleaved ----
const results = { off: [], on: [] };
for (let round = 0; round < Number(values.rounds); round++) {
  for (const background of [false, true]) {
    const result = await workflow(background);
    results[background ? 'on' : 'off'].push(result);
    console.error(`round ${round + 1}, idle-time encoding ${background ? 'on' : 'off'}: ${JSON.stringify(result)}`);
  }
}

// ---- memory ----
async function memory(open, settle) {
  const { context, page } = await freshPage(true);
  await open(page);
  await waitReady(page);
  await settle(page);
  const wasm = Number(await page.locator('#encoder-runs').getAttribute('data-memory'));
  // The page and its workers, as the browser counts them (needs cross-origin isolation).
  const total = await page.evaluate(async () => (self.crossOriginIsolated && performance.measureUserAgentSpecificMemory ? (await performance.measureUserAgentSpecificMemory()).bytes : null));
  const encoded = await encodedCount(page);
  await context.close();
  return { wasm, total, encoded };
}
const untilIdle = async (page) => {
  // Idle time stops when every slice is encoded or the memory budget is full: the count stops.
  let last = -1;
  for (;;) {
    const now = await encodedCount(page);
    if (now === last) return;
    last = now;
    await page.waitForTimeout(15_000);
  }
};
let memoryRows = [];
if (!values['skip-memory']) {
  const seriesDir = 'tests/fixtures/medical/ct_lung1_series';
  const series = readdirSync(seriesDir).map((f) => join(seriesDir, f));
  const big = join(mkdtempSync(join(tmpdir(), 'daftseg-')), 'synthetic_ct_512x512x300.nii');
  writeFileSync(big, syntheticCt(512, 512, 300));
  memoryRows = [
    ['CT series fixture (DICOM, 512x512x6), every slice encoded', await memory((p) => p.setInputFiles('#open-file', series), untilIdle)],
    ['synthetic CT (NIfTI int16, 512x512x300, 150 MiB), idle time until it stops', await memory((p) => p.setInputFiles('#open-file', big), untilIdle)],
  ];
}
await browser.close();
server.close();

// ---- report ----
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const lines = [];
if (results.off.length) {
  lines.push(`Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; ${new Date().toISOString().slice(0, 10)}; Chromium ${browser.version()}, the app's threaded module; ` +
    `\`node scripts/bench-workflow.mjs --rounds ${values.rounds}\`; volume ${values.volume.split('/').pop()}, box ${values.box} (x0,y0,z0,x1,y1,z1: ${bz1 - bz0 + 1} slices). ` +
    'Each run in a fresh browser profile (nothing stored), off and on interleaved.', '');
  lines.push('| idle-time encoding | Segment 3D press to labels, median s | each run s | slices encoded before the press | encoder runs during Segment 3D |', '|---|---|---|---|---|');
  for (const [key, label] of [['off', 'off (before)'], ['on', 'on (after)']]) {
    const r = results[key];
    lines.push(`| ${label} | ${(median(r.map((x) => x.ms)) / 1000).toFixed(1)} | ${r.map((x) => (x.ms / 1000).toFixed(1)).join(', ')} | ${r.map((x) => x.encodedBefore).join(', ')} | ${r.map((x) => x.during).join(', ')} |`);
  }
}
if (memoryRows.length) {
  lines.push('', '| volume | wasm memory (the worker\'s heap, its peak: it never shrinks) | page and workers (measureUserAgentSpecificMemory) | slices encoded |', '|---|---|---|---|');
  for (const [name, m] of memoryRows) lines.push(`| ${name} | ${(m.wasm / MiB).toFixed(0)} MiB | ${m.total === null ? 'n/a' : `${(m.total / MiB).toFixed(0)} MiB`} | ${m.encoded} |`);
}
console.log(lines.join('\n'));

/** A CT-like NIfTI-1 volume: air at -1000 HU, a body ellipse at 40 HU with texture, a bright
 * spine; deterministic. */
function syntheticCt(width, height, depth) {
  const header = Buffer.alloc(352);
  header.writeInt32LE(348, 0);
  [3, width, height, depth, 1, 1, 1, 1].forEach((d, i) => header.writeInt16LE(d, 40 + 2 * i));
  header.writeInt16LE(4, 70); // int16
  header.writeInt16LE(16, 72);
  [1, 0.7, 0.7, 1.5, 0, 0, 0, 0].forEach((p, i) => header.writeFloatLE(p, 76 + 4 * i));
  header.writeFloatLE(352, 108);
  header.writeFloatLE(1, 112); // scl_slope
  header.writeInt16LE(1, 254); // sform: scanner
  [[0.7, 0, 0, 0], [0, 0.7, 0, 0], [0, 0, 1.5, 0]].forEach((row, r) => row.forEach((v, c) => header.writeFloatLE(v, 280 + 16 * r + 4 * c)));
  header.write('n+1\0', 344, 'latin1');
  const voxels = new Int16Array(width * height * depth);
  for (let z = 0; z < depth; z++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const body = ((x - width / 2) / (width * 0.42)) ** 2 + ((y - height / 2) / (height * 0.32)) ** 2 < 1;
        const spine = (x - width / 2) ** 2 + (y - height * 0.7) ** 2 < 400;
        // Texture from a hash of the position: no two slices alike (a periodic one would repeat
        // slices, and the cache would rightly encode each distinct one once).
        const texture = (Math.imul(x, 73856093) ^ Math.imul(y, 19349663) ^ Math.imul(z, 83492791)) >>> 0;
        voxels[(z * height + y) * width + x] = spine ? 700 : body ? 40 + (texture % 41) - 20 : -1000;
      }
    }
  }
  return Buffer.concat([header, Buffer.from(voxels.buffer)]);
}
