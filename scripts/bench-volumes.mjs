// Clinical-size volumes in the real app (Chromium, the threaded module): each synthetic CT that
// scripts/make_large_volumes.py writes (a gzipped NIfTI and a DICOM series per depth) opened in a
// fresh profile with idle-time encoding off, then a box over 3 slices segmented in 3D; the
// worker's wasm memory (its peak: wasm memory never shrinks) and the page's and workers' memory
// as the browser counts it (measureUserAgentSpecificMemory), after opening and after segmenting.
// With --before DIR (a copy of www/pkg and www/pkg-threads from an earlier build), the same
// runs with those modules, interleaved. Prints Markdown for docs/BENCHMARKS.md.
//   node scripts/bench-volumes.mjs --dir DIR [--before DIR] [--depths 300,1200]
import { execSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from './serve.mjs';
import { dragBox } from '../tests/browser/helpers.mjs';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    before: { type: 'string', default: '' },
    depths: { type: 'string', default: '300,1200' },
  },
});
const TIMEOUT = 900_000;
const MiB = 1024 * 1024;
const executablePath = execSync('command -v chromium', { shell: '/bin/bash' }).toString().trim();
const server = await startServer({ port: 0 });
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-precise-memory-info'],
});

async function freshPage(build) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(() => localStorage.setItem('daftseg.background', 'off'));
  if (build === 'before') {
    // The earlier build's modules, served from the copy.
    await context.route(/\/pkg(-threads)?\/[^?]+/, async (route) => {
      const path = new URL(route.request().url()).pathname;
      const file = join(values.before, path.slice(path.indexOf('/pkg') + 1));
      if (!existsSync(file)) return route.continue();
      const type = file.endsWith('.wasm') ? 'application/wasm' : file.endsWith('.js') ? 'text/javascript' : 'application/json';
      await route.fulfill({ body: readFileSync(file), contentType: type, headers: { 'cross-origin-resource-policy': 'same-origin' } });
    });
  }
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'ready', null, { timeout: TIMEOUT });
  return { context, page };
}
const status = (page) => page.locator('#status').textContent();
const settled = (page) => page.waitForFunction(() => /^(ready|error)/.test(document.querySelector('#status').textContent), null, { timeout: TIMEOUT, polling: 100 });
async function memory(page) {
  const wasm = Number(await page.locator('#encoder-runs').getAttribute('data-memory'));
  const total = await page.evaluate(async () => (self.crossOriginIsolated && performance.measureUserAgentSpecificMemory ? (await performance.measureUserAgentSpecificMemory()).bytes : null));
  return { wasm, total };
}
async function showSlice(page, z) {
  await page.locator('#slice').fill(String(z));
  await page.waitForFunction((want) => document.querySelector('#slice-label').textContent.startsWith(`${want} /`), z, { timeout: TIMEOUT, polling: 50 });
}

async function run(build, files, depth) {
  const { context, page } = await freshPage(build);
  const started = Date.now();
  await page.setInputFiles('#open-file', files);
  await settled(page);
  const openS = (Date.now() - started) / 1000;
  const shown = await status(page);
  const error = shown.startsWith('error') ? shown : '';
  const opened = error ? null : await memory(page);
  let segmented = null;
  if (!error) {
    // A box around the lesion (display x 176-241 or 270-335, y 205-275: both flips contain
    // it) over slices 599-601, or the middle three.
    const middle = depth > 601 ? 600 : Math.floor(depth / 2);
    await showSlice(page, middle);
    await settled(page);
    await dragBox(page, [170, 200, 340, 310], 512, 512);
    await page.waitForFunction(() => document.querySelector('#object-list li')?.dataset.mask === '1' && document.querySelector('#status').textContent === 'ready', null, { timeout: TIMEOUT, polling: 50 });
    await showSlice(page, middle - 1);
    await page.click('#z-bottom');
    await showSlice(page, middle + 1);
    await page.click('#z-top');
    await settled(page);
    await page.click('#segment-3d');
    await page.waitForFunction(() => !document.querySelector('#export-nifti').disabled, null, { timeout: TIMEOUT, polling: 50 });
    segmented = await memory(page);
  }
  await context.close();
  return { openS, error: error.trim(), opened, segmented };
}

const rows = [];
for (const depth of values.depths.split(',').map(Number)) {
  const nifti = join(values.dir, `ct_512x512x${depth}.nii.gz`);
  const series = join(values.dir, `ct_512x512x${depth}_dicom`);
  const inputs = [['NIfTI .nii.gz', [nifti]], ['DICOM series', readdirSync(series).map((f) => join(series, f))]];
  for (const [format, files] of inputs) {
    for (const build of values.before ? ['before', 'after'] : ['after']) {
      const result = await run(build, files, depth);
      console.error(`${depth} ${format} ${build}: ${JSON.stringify(result)}`);
      rows.push({ depth, format, build, ...result });
    }
  }
}
await browser.close();
server.close();

const m = (v) => (v === null || v === undefined ? 'n/a' : `${(v / MiB).toFixed(0)} MiB`);
const perVoxel = (bytes, depth) => (bytes ? (bytes / (512 * 512 * depth)).toFixed(2) : 'n/a');
const lines = [
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; ${new Date().toISOString().slice(0, 10)}; Chromium ${browser.version()}, the app's threaded module, idle-time encoding off; \`node scripts/bench-volumes.mjs --dir DIR${values.before ? ' --before DIR' : ''} --depths ${values.depths}\`.`,
  '',
  '| volume | build | open s | wasm memory after opening | after Segment 3D (3 slices) | wasm bytes per voxel | page and workers after Segment 3D | refused with |',
  '|---|---|---|---|---|---|---|---|',
];
for (const r of rows) {
  lines.push(`| 512x512x${r.depth} ${r.format} | ${r.build} | ${r.openS.toFixed(1)} | ${m(r.opened?.wasm)} | ${m(r.segmented?.wasm)} | ${perVoxel(r.segmented?.wasm, r.depth)} | ${m(r.segmented?.total)} | ${r.error ? r.error.slice(0, 120) : ''} |`);
}
console.log(lines.join('\n'));
