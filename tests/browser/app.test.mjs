// The app in a real browser (Debian's Chromium driven by playwright-core): open a real CT
// slice, draw boxes with the mouse, export the label mask and compare it with PyTorch's; no
// request leaves the origin, no console error; a corrupt file shows an error and the app goes
// on; a second visit takes the models from the cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';
import { fixture, cases, pngLabels, iou, launchChromium, dragBox, expectedEngine, engineLine, watchProblems } from './helpers.mjs';

const TIMEOUT = 240_000; // a cold wasm encoder run on a loaded 2-core machine
let server;
let origin;
let browser;
let context;
const requests = [];

before(async () => {
  server = await startServer({ port: 0 });
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  context.on('request', (request) => requests.push(request.url()));
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function openApp() {
  const page = await context.newPage();
  const problems = watchProblems(page);
  await page.goto(`${origin}/`);
  return { page, problems };
}

const statusText = (page) => page.locator('#status').textContent();

async function waitReady(page) {
  await page.waitForFunction(() => {
    const items = [...document.querySelectorAll('#object-list li')];
    return document.querySelector('#status').textContent === 'ready' && items.every((li) => li.dataset.mask === '1');
  }, null, { timeout: TIMEOUT });
}

async function openFile(page, file) {
  await page.setInputFiles('#open-file', file);
}

/** Drag a box given in image pixels, through the one scale and offset the fitted view uses. */
/** Draw a box with the mouse and wait for its mask. */
async function drawBox(page, box, width, height) {
  const before = await page.locator('#object-list li').count();
  await dragBox(page, box, width, height);
  await page.waitForFunction((n) => document.querySelectorAll('#object-list li').length === n, before + 1);
  await waitReady(page);
}

async function exportMask(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-mask')]);
  return pngLabels(readFileSync(await download.path()));
}

test('a CT slice segmented in the page equals PyTorch LiteMedSAM', { timeout: TIMEOUT * 2 }, async () => {
  const { page, problems } = await openApp();
  const ct = cases().find((c) => c.name === 'ct_lung');
  await openFile(page, fileURLToPath(fixture(ct.image)));
  await waitReady(page);
  // Threads whenever the page is cross-origin isolated; this file also runs without isolation.
  assert.match(await engineLine(page, TIMEOUT), expectedEngine());
  assert.match(await page.locator('#model-name').textContent(), /litemedsam: modality CT from the file name/);
  for (const box of ct.boxes) await drawBox(page, box, ct.width, ct.height);

  const exported = await exportMask(page);
  const expected = pngLabels(readFileSync(fixture('golden/ct_lung_segs.png')));
  assert.deepEqual([exported.width, exported.height], [ct.width, ct.height]);
  for (let label = 1; label <= ct.boxes.length; label++) {
    const value = iou(exported.labels, expected.labels, label);
    assert.ok(value >= 0.99, `label ${label}: IoU ${value.toFixed(4)} against PyTorch`);
  }
  // Each object's measurements (pixels, grey values) in the list and as CSV, against numpy's on
  // PyTorch's masks (tests/medical.rs checks the engine to 1e-6 on exactly those masks).
  await page.waitForFunction((n) => document.querySelectorAll('#object-list li[data-mean]').length === n, ct.boxes.length, { timeout: TIMEOUT });
  const numpy = JSON.parse(readFileSync(fixture('medical/measurements_reference.json'), 'utf8')).studies.find((s) => s.name === 'ct_lung').rows;
  const [stats] = await Promise.all([page.waitForEvent('download'), page.click('#export-stats')]);
  const rows = readFileSync(await stats.path(), 'utf8').trim().split('\n').slice(1).map((line) => line.split(','));
  assert.equal(rows.length, numpy.length);
  for (const [i, row] of rows.entries()) {
    const pixels = exported.labels.reduce((n, v) => n + (v === i + 1), 0);
    assert.deepEqual([Number(row[0]), row[1], Number(row[2])], [i + 1, 'all', pixels]);
    assert.ok(Math.abs(Number(row[2]) - numpy[i].voxels) <= 0.01 * numpy[i].voxels, `object ${i + 1}: ${row[2]} px vs ${numpy[i].voxels}`);
    assert.ok(Math.abs(Number(row[5]) - numpy[i].mean) <= 0.01 * Math.abs(numpy[i].mean), `object ${i + 1}: mean ${row[5]} vs ${numpy[i].mean}`);
  }
  // Objects: a name (default from the modality, editable), a colour, show/hide, outline display;
  // read back from the exported overlay picture (a grey CT: an untinted pixel has r = g = b).
  const overlayAt = async () => {
    const [file] = await Promise.all([page.waitForEvent('download'), page.click('#export-overlay')]);
    const png = PNG.sync.read(readFileSync(await file.path()));
    return (p) => [...png.data.subarray(4 * p, 4 * p + 3)];
  };
  const interior = (label) => exported.labels.findIndex((v, p) => v === label && [p - 1, p + 1, p - ct.width, p + ct.width].every((q) => exported.labels[q] === label));
  const border = (label) => exported.labels.findIndex((v, p) => v === label && exported.labels[p - 1] !== label);
  const tinted = ([r, g, b]) => !(r === g && g === b);
  const items = page.locator('#object-list li');
  assert.match(await items.nth(0).locator('input.name').inputValue(), /^CT structure 1$/);
  await items.nth(0).locator('input.name').fill('tumour');
  await items.nth(0).locator('input.name').press('Enter');
  await items.nth(0).locator('input.color').fill('#00ff00');
  await items.nth(1).locator('input.visible').uncheck();
  assert.equal(await items.nth(1).getAttribute('data-visible'), '0');
  let pixel = await overlayAt();
  assert.equal(tinted(pixel(interior(2))), false, 'a hidden object is not drawn');
  const [r, g] = pixel(interior(1));
  assert.ok(g > r + 20, `object 1 in its new colour: ${pixel(interior(1))}`);
  await page.selectOption('#display-mode', 'outline');
  pixel = await overlayAt();
  assert.equal(tinted(pixel(interior(1))), false, 'outline: the inside is not filled');
  assert.equal(tinted(pixel(border(1))), true, 'outline: the border is drawn');
  assert.equal(await items.nth(0).locator('input.name').inputValue(), 'tumour');
  await page.selectOption('#display-mode', 'filled');
  await items.nth(1).locator('input.visible').check();

  if (process.env.DAFTSEG_SCREENSHOT) await page.screenshot({ path: process.env.DAFTSEG_SCREENSHOT });

  // Undo removes the last object, redo brings it back with its mask.
  await page.keyboard.press('Control+z');
  assert.equal(await page.locator('#object-list li').count(), ct.boxes.length - 1);
  await page.keyboard.press('Control+Shift+z');
  assert.equal(await page.locator('#object-list li').count(), ct.boxes.length);
  await waitReady(page);

  const foreign = requests.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('blob:') && !url.startsWith('data:'));
  assert.deepEqual(foreign, [], 'requests outside the origin');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the router picks the modality model, shows why, and the user can override it', { timeout: TIMEOUT * 3 }, async () => {
  const { page, problems } = await openApp();
  const manifest = JSON.parse(readFileSync(new URL('../../models/manifest.json', import.meta.url), 'utf8'));
  await page.waitForFunction((n) => document.querySelectorAll('#model-select option').length === n, manifest.models.length + 1, { timeout: TIMEOUT });
  const options = await page.locator('#model-select option').evaluateAll((list) => list.map((o) => o.value));
  assert.deepEqual(options, ['', ...manifest.models.map((m) => m.id)]);
  // Each zoo model's tooltip gives its held-out score against the general model's.
  const titles = await page.locator('#model-select option').evaluateAll((list) => list.map((o) => o.title));
  const scored = manifest.models.filter((m) => m.heldout?.all);
  assert.ok(scored.length >= 3, 'the zoo models carry held-out scores');
  for (const model of scored) {
    const { modality, general } = model.heldout.all;
    assert.ok(titles[options.indexOf(model.id)].endsWith(`(held-out DSC ${modality.dsc} vs general ${general.dsc})`), titles[options.indexOf(model.id)]);
  }
  const nuclei = cases().find((c) => c.name === 'microscopy_nuclei');
  await openFile(page, fileURLToPath(fixture(nuclei.image)));
  await waitReady(page);
  const routed = manifest.models.find((m) => m.role === 'modality' && m.modalities.includes('Microscopy'));
  assert.match(await page.locator('#model-name').textContent(), new RegExp(`^${routed.id}: modality Microscopy from the file name; '${routed.id}' is fine-tuned`));
  await drawBox(page, nuclei.boxes[0], nuclei.width, nuclei.height);
  // Override: the general model, then a candidate that only an explicit choice reaches.
  const candidate = manifest.models.find((m) => m.role === 'candidate');
  for (const id of ['litemedsam', candidate.id]) {
    await page.selectOption('#model-select', id);
    await page.waitForFunction((want) => document.querySelector('#model-name').textContent.startsWith(`${want}: chosen by the user`), id, { timeout: TIMEOUT });
    await waitReady(page);
    assert.equal(await page.locator('#object-list li[data-mask="1"]').count(), 1, `the box is segmented again by ${id}`);
  }
  await page.selectOption('#model-select', '');
  await page.waitForFunction((want) => document.querySelector('#model-name').textContent.startsWith(`${want}:`), routed.id, { timeout: TIMEOUT });
  await waitReady(page);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a file that names no modality is routed by its content, and the page says so', { timeout: TIMEOUT * 3 }, async () => {
  const { page, problems } = await openApp();
  const scan = (image) => ({ name: 'scan.png', mimeType: 'image/png', buffer: readFileSync(fixture(`images/${image}`)) });
  const modelName = () => page.locator('#model-name').textContent();
  await openFile(page, scan('xray_chest.png'));
  await waitReady(page);
  assert.match(await modelName(), /^litemedsam: modality XRay from the image content \(confidence 0\.\d\d\); no model is fine-tuned for XRay/);
  await openFile(page, scan('microscopy_nuclei.png'));
  await page.waitForFunction(() => document.querySelector('#model-name').textContent.startsWith('daft-microscopy:'), null, { timeout: TIMEOUT });
  await waitReady(page);
  assert.match(await modelName(), /^daft-microscopy: modality Microscopy from the image content \(confidence 0\.\d\d\)/);
  // A synthetic ramp is no modality: the general model, and the reason says why.
  await openFile(page, scan('gradient.png'));
  await page.waitForFunction(() => document.querySelector('#model-name').textContent.startsWith('litemedsam:'), null, { timeout: TIMEOUT });
  await waitReady(page);
  assert.match(await modelName(), /not clear enough/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a first visit: the model downloads before a file is chosen, and sample studies open with one click', { timeout: TIMEOUT * 3 }, async () => {
  // A fresh profile: nothing cached.
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const seen = [];
  fresh.on('request', (request) => seen.push(request.url()));
  const page = await fresh.newPage();
  const problems = watchProblems(page);
  await page.goto(`${origin}/`);
  const samples = JSON.parse(readFileSync(new URL('../../www/samples.json', import.meta.url), 'utf8')).samples;
  // The page fetches samples.json after it loads: wait for its last button, then count them all.
  await page.locator('#samples button').nth(samples.length - 1).waitFor({ timeout: TIMEOUT });
  assert.equal(await page.locator('#samples button').count(), samples.length);
  // The general model's files are fetched while no file has been chosen.
  const manifest = JSON.parse(readFileSync(new URL('../../models/manifest.json', import.meta.url), 'utf8'));
  const general = manifest.models.find((m) => m.role === 'general');
  const deadline = Date.now() + TIMEOUT;
  for (const file of [general.encoder.file, general.decoder.file]) {
    while (!seen.some((url) => url.endsWith(`/models/${file}`))) {
      if (Date.now() > deadline) throw new Error(`${file} was not fetched before a file was chosen`);
      await page.waitForTimeout(200);
    }
  }
  assert.equal(await page.locator('#object-list li').count(), 0);

  // The 2D sample, then the 3D one.
  await page.click('#samples button[data-sample="ct-slice"]');
  await waitReady(page);
  assert.match(await page.locator('#model-name').textContent(), /litemedsam/);
  // The samples show on the empty page: a reload empties it.
  await page.reload();
  await page.click('#samples button[data-sample="ct-series"]');
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'ready', null, { timeout: TIMEOUT });
  assert.equal(await page.locator('#volume-bar').isVisible(), true);
  assert.equal(await page.locator('#slice').getAttribute('max'), String(samples[1].files.length - 1));
  // Each model file was downloaded once, prefetch and load together.
  for (const file of [general.encoder.file, general.decoder.file]) {
    assert.equal(seen.filter((url) => url.endsWith(`/models/${file}`)).length, 1, `${file} downloaded more than once`);
  }
  assert.deepEqual(problems, []);
  await fresh.close();
});

test('a corrupt file shows an error and the next file still works', { timeout: TIMEOUT * 2 }, async () => {
  const { page, problems } = await openApp();
  await page.setInputFiles('#open-file', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('this is not a PNG') });
  await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('error'), null, { timeout: TIMEOUT });
  assert.match(await statusText(page), /cannot read image/);

  const mr = cases().find((c) => c.name === 'mr_small');
  await openFile(page, fileURLToPath(fixture(mr.image)));
  await waitReady(page);
  await drawBox(page, mr.boxes[0], mr.width, mr.height);
  const exported = await exportMask(page);
  const expected = pngLabels(readFileSync(fixture('golden/mr_small_segs.png')));
  assert.ok(iou(exported.labels, expected.labels, 1) >= 0.99);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a second visit takes the models from the cache', { timeout: TIMEOUT * 2 }, async () => {
  const firstVisit = requests.filter((url) => url.endsWith('.onnx')).length;
  assert.ok(firstVisit >= 2, `the first visit should have downloaded the model files (${firstVisit} requests)`);
  const { page, problems } = await openApp();
  const mr = cases().find((c) => c.name === 'mr_small');
  await openFile(page, fileURLToPath(fixture(mr.image)));
  await waitReady(page);
  assert.equal(requests.filter((url) => url.endsWith('.onnx')).length, firstVisit, 'model files were downloaded again');
  assert.deepEqual(problems, []);
  await page.close();
});

test('after the first visit the app works offline', { timeout: TIMEOUT * 2 }, async () => {
  const { page, problems } = await openApp();
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: TIMEOUT });
  const online = await engineLine(page, TIMEOUT);
  await context.setOffline(true);
  try {
    await page.reload();
    // The same module offline: the threaded one's files are kept too.
    assert.equal(await engineLine(page, TIMEOUT), online);
    const mr = cases().find((c) => c.name === 'mr_small');
    await openFile(page, fileURLToPath(fixture(mr.image)));
    await waitReady(page);
    await drawBox(page, mr.boxes[0], mr.width, mr.height);
    assert.equal(await page.locator('#object-list li[data-mask="1"]').count(), 1);
  } finally {
    await context.setOffline(false);
  }
  // Offline, a failed request logs a console error that is not ours; only page errors count here.
  assert.deepEqual(problems.filter((p) => p.startsWith('page error')), []);
  await page.close();
});
