// Volumes in the page (Chromium): a real CT series (DICOM files of pyradiomics' lung1 CT) opens
// with its CT window, one box with a slice range is propagated in 3D with a progress bar, and the
// exported NIfTI matches PyTorch's run of the same algorithm and carries the DICOM geometry; a
// NIfTI MR volume opens with the percentile window; a corrupt DICOM gives an error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';
import { readNpz } from '../../scripts/npz.mjs';
import { fixture, launchChromium, dragBox } from './helpers.mjs';

const TIMEOUT = 300_000;
let server;
let origin;
let browser;

before(async () => {
  server = await startServer({ port: 0 });
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function openApp() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const problems = [];
  const foreign = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  context.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('blob:') && !url.startsWith('data:')) foreign.push(url);
  });
  await page.goto(`${origin}/`);
  return { page, problems, foreign };
}

const waitStatus = (page, text) =>
  page.waitForFunction((t) => document.querySelector('#status').textContent.startsWith(t), text, { timeout: TIMEOUT });

async function showSlice(page, z) {
  await page.locator('#slice').fill(String(z));
  await page.waitForFunction((want) => document.querySelector('#slice-label').textContent.startsWith(`${want} /`), z, { timeout: TIMEOUT });
  await waitStatus(page, 'ready');
}

/** Draw a box with the mouse and wait for its 2D preview mask. */
async function drawBox(page, box, width, height) {
  await dragBox(page, box, width, height);
  await page.waitForFunction(() => document.querySelector('#object-list li')?.dataset.mask === '1', null, { timeout: TIMEOUT });
}

/** A NIfTI-1 label file (as daftseg writes it): dims, affine rows, labels. */
function readNifti(bytes) {
  const buf = Buffer.from(bytes[0] === 0x1f ? gunzipSync(bytes) : bytes);
  const dims = [0, 1, 2].map((i) => buf.readInt16LE(42 + 2 * i));
  const datatype = buf.readInt16LE(70);
  const offset = buf.readFloatLE(108);
  const srow = [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => buf.readFloatLE(280 + 16 * r + 4 * c)));
  const count = dims[0] * dims[1] * dims[2];
  const labels = datatype === 2 ? new Uint8Array(buf.buffer, buf.byteOffset + offset, count) : null;
  return { dims, srow, labels };
}

test('a DICOM CT series: window, 3D propagation with progress, NIfTI export equal to PyTorch', { timeout: TIMEOUT * 3 }, async () => {
  const reference = JSON.parse(readFileSync(fixture('medical/reference.json'), 'utf8')).files.find((f) => f.name === 'ct_lung1_series');
  const folder = fileURLToPath(fixture('medical/ct_lung1_series'));
  const { page, problems, foreign } = await openApp();
  await page.setInputFiles('#open-file', readdirSync(folder).map((name) => `${folder}/${name}`));
  await waitStatus(page, 'ready');
  assert.equal(await page.locator('#volume-bar').isVisible(), true);
  assert.equal(await page.locator('#slice').getAttribute('max'), '5');
  assert.match(await page.locator('#window-label').textContent(), /CT soft tissue W400\/L40/);
  assert.match(await page.locator('#model-name').textContent(), /modality CT from the file's metadata/);
  assert.match(await page.locator('#volume-notes').textContent(), /DICOM 512×512×6, 0\.57 × 0\.57 × 5\.00 mm, modality CT/);

  await page.selectOption('#window-preset', 'lung');
  await page.waitForFunction(() => document.querySelector('#window-label').textContent.includes('lung W1500/L-600'), null, { timeout: TIMEOUT });
  await waitStatus(page, 'ready');

  const [x0, y0, z0, x1, y1, z1] = reference.tumour_box3d;
  await showSlice(page, z0);
  await drawBox(page, [x0, y0, x1, y1], 512, 512);
  await page.click('#z-bottom');
  await showSlice(page, z1);
  await page.click('#z-top');
  const item = page.locator('#object-list li').first();
  assert.deepEqual([await item.getAttribute('data-z0'), await item.getAttribute('data-z1')], [String(z0), String(z1)]);

  const sawProgress = page.waitForFunction(() => /3D: slice \d+ of \d+/.test(document.querySelector('#status').textContent), null, { timeout: TIMEOUT });
  await page.click('#segment-3d');
  await sawProgress;
  await page.waitForFunction(() => !document.querySelector('#export-nifti').disabled, null, { timeout: TIMEOUT });

  await showSlice(page, z0 + 1);
  if (process.env.DAFTSEG_SCREENSHOT_VOLUME) await page.screenshot({ path: process.env.DAFTSEG_SCREENSHOT_VOLUME });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-nifti')]);
  assert.match(download.suggestedFilename(), /_seg\.nii\.gz$/);
  const nifti = readNifti(readFileSync(await download.path()));
  assert.deepEqual(nifti.dims, [512, 512, 6]);
  // The DICOM origin (LPS) as RAS+.
  const origin3 = reference.origin_lps;
  assert.ok(Math.abs(nifti.srow[0][3] + origin3[0]) < 1e-2 && Math.abs(nifti.srow[1][3] + origin3[1]) < 1e-2 && Math.abs(nifti.srow[2][3] - origin3[2]) < 1e-2, `origin ${nifti.srow.map((r) => r[3])}`);
  const expected = readNpz(readFileSync(fixture('medical/ct_lung1_series_reference.npz'))).segs.data;
  let both = 0;
  let ours = 0;
  let theirs = 0;
  for (let i = 0; i < expected.length; i++) {
    both += nifti.labels[i] > 0 && expected[i] > 0;
    ours += nifti.labels[i] > 0;
    theirs += expected[i] > 0;
  }
  const dsc = (2 * both) / (ours + theirs);
  assert.ok(theirs > 500 && dsc >= 0.98, `DSC ${dsc.toFixed(4)} against PyTorch (${ours} vs ${theirs} voxels)`);

  // Measurements: the object's volume in mL and mean HU in the list, and the CSV export; numpy's
  // numbers for PyTorch's labels (tests/medical.rs checks the engine's to 1e-6 on those labels).
  await page.waitForFunction(() => document.querySelector('#object-list li')?.dataset.volumeMl, null, { timeout: TIMEOUT });
  const numpy = JSON.parse(readFileSync(fixture('medical/measurements_reference.json'), 'utf8')).studies[0].rows[0];
  const ml = Number(await item.getAttribute('data-volume-ml'));
  assert.ok(Math.abs(ml - numpy.volume_ml) <= 0.02 * numpy.volume_ml, `${ml} mL vs ${numpy.volume_ml} mL for PyTorch's labels`);
  assert.match(await item.textContent(), / mL, mean -?\d+\.\d HU/);
  const [stats] = await Promise.all([page.waitForEvent('download'), page.click('#export-stats')]);
  assert.match(stats.suggestedFilename(), /_stats\.csv$/);
  const rows = readFileSync(await stats.path(), 'utf8').trim().split('\n').map((line) => line.split(','));
  assert.deepEqual(rows[0].slice(0, 5), ['label', 'slice', 'voxels', 'area_mm2', 'volume_ml']);
  assert.deepEqual(rows[1].slice(0, 3), ['1', 'all', String(ours)]);
  assert.equal(Number(rows[1][4]), ml);
  assert.equal(rows[1][9], 'HU');

  // DICOM SEG from the page, named and coloured in the list: dciodvfy, highdicom and dcmqi
  // (tests/seg/validate.py) accept it and read the NIfTI export's labels in it.
  const downloads = mkdtempSync(join(tmpdir(), 'daftseg-labels-'));
  const saved = join(downloads, 'tumour_seg.nii.gz');
  await download.saveAs(saved);
  assert.equal(await page.locator('#export-seg').isDisabled(), false);
  await item.locator('input.name').fill('Tumour');
  await item.locator('input.name').press('Enter');
  await item.locator('input.color').evaluate((input) => {
    input.value = '#3366cc';
    input.dispatchEvent(new Event('change'));
  });
  const [segDownload] = await Promise.all([page.waitForEvent('download'), page.click('#export-seg')]);
  assert.match(segDownload.suggestedFilename(), /_seg\.dcm$/);
  const seg = join(downloads, 'tumour_seg.dcm');
  await segDownload.saveAs(seg);
  writeFileSync(join(downloads, 'names.json'), JSON.stringify(['Tumour']));
  const validators = spawnSync(fileURLToPath(new URL('../seg/.venv/bin/python', import.meta.url)), [
    fileURLToPath(new URL('../seg/validate.py', import.meta.url)), seg, saved, folder, join(downloads, 'names.json'),
  ], { encoding: 'utf8' });
  assert.equal(validators.status, 0, `${validators.stdout}${validators.stderr}`);
  assert.match(validators.stdout, /dcmqi: .* every voxel equal to ours/);

  // The exported NIfTI opens again as labels over the series: the same object, the same volume;
  // another study's labels are refused with the sizes.
  await page.setInputFiles('#open-labels', saved);
  await page.waitForFunction(() => /labels: 1 objects from tumour_seg\.nii\.gz/.test(document.querySelector('#timings').textContent), null, { timeout: TIMEOUT });
  await page.waitForFunction(() => document.querySelector('#object-list li')?.dataset.volumeMl, null, { timeout: TIMEOUT });
  assert.equal(Number(await item.getAttribute('data-volume-ml')), ml);
  assert.equal(await item.locator('input.name').inputValue(), 'tumour_seg.nii.gz 1');
  // The SEG opens again the same way, with the name and colour it was given.
  await page.setInputFiles('#open-labels', seg);
  await page.waitForFunction(() => /labels: 1 objects from tumour_seg\.dcm/.test(document.querySelector('#timings').textContent), null, { timeout: TIMEOUT });
  await page.waitForFunction(() => document.querySelector('#object-list li')?.dataset.volumeMl, null, { timeout: TIMEOUT });
  assert.equal(Number(await item.getAttribute('data-volume-ml')), ml);
  assert.equal(await item.locator('input.name').inputValue(), 'Tumour');
  assert.equal(await item.locator('input.color').inputValue(), '#3366cc');
  await page.setInputFiles('#open-labels', fileURLToPath(fixture('medical/example4d.nii.gz')));
  await waitStatus(page, 'error');
  assert.match(await page.locator('#status').textContent(), /example4d\.nii\.gz is 128x96x24 .*512x512x6/);
  assert.deepEqual(foreign, []);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a NIfTI MR volume opens with the percentile window; a corrupt DICOM gives an error', { timeout: TIMEOUT * 2 }, async () => {
  const { page, problems } = await openApp();
  await page.setInputFiles('#open-file', { name: 'broken.dcm', mimeType: 'application/dicom', buffer: Buffer.alloc(200, 7) });
  await waitStatus(page, 'error');
  assert.match(await page.locator('#status').textContent(), /DICOM/);
  await page.setInputFiles('#open-file', fileURLToPath(fixture('medical/example4d.nii.gz')));
  await waitStatus(page, 'ready');
  assert.equal(await page.locator('#slice').getAttribute('max'), '23');
  assert.match(await page.locator('#window-label').textContent(), /percentiles 0\.5-99\.5/);
  assert.match(await page.locator('#volume-notes').textContent(), /NIfTI-1 128×96×24.*first one is shown/);
  // Shift+drag changes the window to a manual one.
  const box = await page.locator('#viewer').boundingBox();
  await page.keyboard.down('Shift');
  await page.mouse.move(box.x + 300, box.y + 300);
  await page.mouse.down();
  await page.mouse.move(box.x + 400, box.y + 320, { steps: 4 });
  await page.mouse.up();
  await page.keyboard.up('Shift');
  await page.waitForFunction(() => /^W[\d.]+\/L[\d.]+$/.test(document.querySelector('#window-label').textContent), null, { timeout: TIMEOUT });
  assert.deepEqual(problems, []);
  await page.close();
});

test('a challenge 3D NPZ opens with its boxes, and Segment 3D in the page gives PyTorch\'s segs', { timeout: TIMEOUT * 3 }, async () => {
  const { page, problems } = await openApp();
  const golden = readNpz(readFileSync(fixture('golden/3d_mr_brain.npz')));
  const [depth, height, width] = golden.imgs.shape;
  await page.setInputFiles('#open-file', fileURLToPath(fixture('golden/3d_mr_brain.npz')));
  await waitStatus(page, 'ready');
  const boxes = golden.boxes.data;
  assert.equal(await page.locator('#object-list li').count(), boxes.length / 6);
  const first = page.locator('#object-list li').first();
  assert.deepEqual([await first.getAttribute('data-z0'), await first.getAttribute('data-z1')], [String(boxes[2]), String(boxes[5])]);
  assert.match(await page.locator('#window-label').textContent(), /W255\/L127\.5/, 'NPZ data are shown and segmented as stored');
  await page.waitForFunction(() => !document.querySelector('#segment-3d').disabled, null, { timeout: TIMEOUT });
  await page.click('#segment-3d');
  await page.waitForFunction(() => !document.querySelector('#export-npz').disabled, null, { timeout: TIMEOUT });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-npz')]);
  const exported = readNpz(readFileSync(await download.path()));
  assert.deepEqual(exported.segs.shape, [depth, height, width]);
  const expected = golden.segs.data;
  let differing = 0;
  for (let i = 0; i < expected.length; i++) differing += exported.segs.data[i] !== expected[i];
  assert.equal(differing, 0, `${differing} voxels differ from PyTorch's segs`);
  assert.deepEqual(problems, []);
  await page.close();
});
