// A clinical-size CT in the app (Chromium): a 512x512x1,200 int16 NIfTI (generated here: air, a
// textured body, a bright lesion; the phantom of tests/large_volumes.rs) opens, the slider
// reaches every slice, and a box over 3 slices around the lesion segments in 3D. The worker's
// wasm memory stays within the voxels (2 bytes each), a byte a voxel of labels and a fixed part.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startServer } from '../../scripts/serve.mjs';
import { launchChromium, dragBox, watchProblems } from './helpers.mjs';

const TIMEOUT = 600_000;
const SIZE = 512;
const DEPTH = 1200;
const LESION = [300, 240, 600, 30];
const MiB = 2 ** 20;
let server;
let browser;
let origin;

function phantom() {
  const header = Buffer.alloc(352);
  header.writeInt32LE(348, 0);
  [3, SIZE, SIZE, DEPTH, 1, 1, 1, 1].forEach((d, i) => header.writeInt16LE(d, 40 + 2 * i));
  header.writeInt16LE(4, 70); // int16
  header.writeInt16LE(16, 72);
  [1, 0.7, 0.7, 0.8].forEach((p, i) => header.writeFloatLE(p, 76 + 4 * i));
  header.writeFloatLE(352, 108);
  header.write('n+1\0', 344, 'latin1');
  const voxels = new Int16Array(SIZE * SIZE * DEPTH);
  const [lx, ly, lz, r] = LESION;
  for (let z = 0; z < DEPTH; z++) {
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const lesion = (x - lx) ** 2 + (y - ly) ** 2 + (z - lz) ** 2 <= r * r;
        const body = ((x - 256) / 220) ** 2 + ((y - 256) / 160) ** 2 <= 1;
        voxels[(z * SIZE + y) * SIZE + x] = lesion ? 250 : body ? 40 + ((x + 2 * y + 3 * z) % 17) - 8 : -1000;
      }
    }
  }
  const path = join(mkdtempSync(join(tmpdir(), 'daftseg-large-')), `ct_${SIZE}x${SIZE}x${DEPTH}.nii.gz`);
  writeFileSync(path, gzipSync(Buffer.concat([header, Buffer.from(voxels.buffer)]), { level: 1 }));
  return path;
}

before(async () => {
  server = await startServer({ port: 0 });
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.close();
});

test('a 512x512x1200 CT opens in the page, every slice is reachable, and 3D segments a box over 3 slices', { timeout: TIMEOUT }, async () => {
  const path = phantom();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(() => localStorage.setItem('daftseg.background', 'off'));
  const page = await context.newPage();
  const problems = watchProblems(page);
  await page.goto(`${origin}/`);
  const ready = () => page.waitForFunction(() => /^(ready|error)/.test(document.querySelector('#status').textContent), null, { timeout: TIMEOUT, polling: 100 });
  await page.setInputFiles('#open-file', path);
  await ready();
  assert.equal(await page.locator('#status').textContent(), 'ready');
  assert.equal(await page.locator('#slice').getAttribute('max'), String(DEPTH - 1));
  const show = async (z) => {
    await page.locator('#slice').fill(String(z));
    await page.waitForFunction((want) => document.querySelector('#slice-label').textContent.startsWith(`${want} /`), z, { timeout: TIMEOUT, polling: 50 });
  };
  await show(DEPTH - 1);
  await show(0);
  // The file is RAS: the display runs against its x and y. The lesion's box, slices 599-601.
  const [lx, ly, lz, r] = LESION;
  const box = [SIZE - 1 - (lx + r + 5), SIZE - 1 - (ly + r + 5), SIZE - 1 - (lx - r - 5), SIZE - 1 - (ly - r - 5)];
  await show(lz);
  await ready();
  await dragBox(page, box, SIZE, SIZE);
  await page.waitForFunction(() => document.querySelector('#object-list li')?.dataset.mask === '1' && document.querySelector('#status').textContent === 'ready', null, { timeout: TIMEOUT, polling: 50 });
  await show(lz - 1);
  await page.click('#z-bottom');
  await show(lz + 1);
  await page.click('#z-top');
  await ready();
  await page.click('#segment-3d');
  await page.waitForFunction(() => !document.querySelector('#export-nifti').disabled, null, { timeout: TIMEOUT, polling: 50 });
  assert.match(await page.locator('#timings').textContent(), /^3D:/);
  // The worker's heap: the voxels once (2 bytes each), a byte a voxel of labels, the model and
  // its activations (under 700 MiB with two slices encoding at once).
  const wasm = Number(await page.locator('#encoder-runs').getAttribute('data-memory'));
  const bound = 3 * SIZE * SIZE * DEPTH + 700 * MiB;
  assert.ok(wasm > 0 && wasm <= bound, `wasm memory ${Math.round(wasm / MiB)} MiB > ${Math.round(bound / MiB)} MiB`);
  assert.deepEqual(problems, []);
  await context.close();
});
