// Encoding ahead and the persistent embedding store, in Chromium: idle time encodes a real CT
// series (the bar under the slider shows it) and Segment 3D then runs no encoder; a box drawn
// meanwhile waits for at most the one encoder run in flight; a reload (and a reload offline)
// gets its first mask from the stored embedding with no encoder run; a damaged stored entry is
// detected and recomputed; the budget evicts the least recently used entries (IndexedDB, the
// fallback store), and "Clear stored data" empties the store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';
import { fixture, cases, launchChromium, dragBox, watchProblems } from './helpers.mjs';

const TIMEOUT = 300_000;
const ENTRY_BYTES = 8 + 32 + 32 + 16 + 256 * 64 * 64 * 4 + 32; // src/store.rs
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

async function newPage(context, query = '') {
  const page = await context.newPage();
  const problems = watchProblems(page);
  await page.goto(`${origin}/${query}`);
  return { page, problems };
}

const waitStatus = (page, text) =>
  page.waitForFunction((t) => document.querySelector('#status').textContent.startsWith(t), text, { timeout: TIMEOUT });
const encoderRuns = async (page) => Number(await page.locator('#encoder-runs').getAttribute('data-runs'));
const storeData = (page) => page.locator('#store-line').evaluate((e) => ({ ...e.dataset }));
const series = () => {
  const folder = fileURLToPath(fixture('medical/ct_lung1_series'));
  return readdirSync(folder).map((name) => `${folder}/${name}`);
};

async function showSlice(page, z) {
  await page.locator('#slice').fill(String(z));
  await page.waitForFunction((want) => document.querySelector('#slice-label').textContent.startsWith(`${want} /`), z, { timeout: TIMEOUT });
  await waitStatus(page, 'ready');
}

async function maskShown(page, count) {
  await page.waitForFunction(
    (n) => {
      const items = [...document.querySelectorAll('#object-list li')];
      return items.length === n && items.every((li) => li.dataset.mask === '1') && document.querySelector('#status').textContent === 'ready';
    },
    count,
    { timeout: TIMEOUT },
  );
}

test('idle time encodes a CT series; a box drawn meanwhile waits for one encoder run at most; Segment 3D then encodes nothing', { timeout: TIMEOUT * 2 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, problems } = await newPage(context);
  await page.setInputFiles('#open-file', series());
  await waitStatus(page, 'ready');
  const reference = (await import('node:fs')).readFileSync(fixture('medical/reference.json'), 'utf8');
  const [x0, y0, z0, x1, y1, z1] = JSON.parse(reference).files.find((f) => f.name === 'ct_lung1_series').tumour_box3d;
  // The shown slice is encoded; idle time has started on the others.
  assert.equal(await encoderRuns(page), 1);
  await showSlice(page, z0);
  await dragBox(page, [x0, y0, x1, y1], 512, 512);
  await maskShown(page, 1);
  await page.click('#z-bottom');
  await showSlice(page, z1);
  await page.click('#z-top');
  // The bar fills: every slice encoded once, in idle time.
  await page.waitForFunction(() => document.querySelector('#slice-encoded').dataset.encoded === '6', null, { timeout: TIMEOUT });
  assert.equal(await encoderRuns(page), 6, 'each slice is encoded once');
  // No request (the slice changes, the box, its range) waited for more than the one step in
  // flight when it arrived.
  const waited = Number(await page.locator('#encoder-runs').getAttribute('data-steps-waited'));
  assert.ok(waited <= 1, `a request waited for ${waited} idle-time encoder runs`);

  await page.click('#segment-3d');
  await page.waitForFunction(() => !document.querySelector('#export-nifti').disabled, null, { timeout: TIMEOUT });
  assert.equal(await page.locator('#timings').getAttribute('data-encoder-runs3d'), '0');
  assert.match(await page.locator('#timings').textContent(), /0 slices encoded for it/);
  assert.equal(await encoderRuns(page), 6);
  // The six slices were also stored.
  assert.equal((await storeData(page)).entries, '6');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a reload, and a reload offline, get the first mask from the store; a damaged entry is recomputed', { timeout: TIMEOUT * 3 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const mr = cases().find((c) => c.name === 'mr_small');
  const image = fileURLToPath(fixture(mr.image));
  const openAndBox = async (page) => {
    await page.setInputFiles('#open-file', image);
    await waitStatus(page, 'ready');
    await dragBox(page, mr.boxes[0], mr.width, mr.height);
    await maskShown(page, 1);
  };
  const { page, problems } = await newPage(context);
  await openAndBox(page);
  assert.equal(await encoderRuns(page), 1);
  assert.equal((await storeData(page)).entries, '1');

  await page.reload();
  await openAndBox(page);
  assert.equal(await encoderRuns(page), 0, 'the stored embedding was not used after a reload');
  assert.equal((await storeData(page)).read, '1');

  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: TIMEOUT });
  await context.setOffline(true);
  try {
    await page.reload();
    await openAndBox(page);
    assert.equal(await encoderRuns(page), 0, 'offline, the stored embedding was not used');
  } finally {
    await context.setOffline(false);
  }

  // Damage the stored entry (cut it short, as a full disk would), from the page's side of the
  // same origin-private file system.
  const damaged = await page.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('daftseg-embeddings');
    const names = [];
    for await (const name of dir.keys()) {
      if (!name.endsWith('.emb')) continue;
      const writable = await (await dir.getFileHandle(name)).createWritable({ keepExistingData: true });
      await writable.truncate(1000);
      await writable.close();
      names.push(name);
    }
    return names;
  });
  assert.equal(damaged.length, 1);
  await page.reload();
  await openAndBox(page);
  assert.equal(await encoderRuns(page), 1, 'the damaged entry must be recomputed');
  assert.equal((await storeData(page)).damaged, '1');
  await page.reload();
  await openAndBox(page);
  assert.equal(await encoderRuns(page), 0, 'the recomputed entry is stored again');
  assert.deepEqual(problems.filter((p) => p.startsWith('page error')), []);
  await context.close();
});

test('the budget evicts the least recently used entries; Clear stored data empties the store (IndexedDB)', { timeout: TIMEOUT * 2 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, problems } = await newPage(context, '?store=indexeddb');
  await page.waitForFunction(() => /IndexedDB/.test(document.querySelector('#store-line').textContent), null, { timeout: TIMEOUT });
  // Room for two entries.
  await page.click('#storage summary');
  await page.locator('#store-budget').fill('9');
  await page.locator('#store-budget').dispatchEvent('change');
  await page.setInputFiles('#open-file', series());
  await page.waitForFunction(() => document.querySelector('#slice-encoded').dataset.encoded === '6', null, { timeout: TIMEOUT });
  await page.waitForFunction(() => document.querySelector('#store-line').dataset.entries === '2', null, { timeout: TIMEOUT });
  const data = await storeData(page);
  assert.equal(Number(data.bytes), 2 * ENTRY_BYTES);
  assert.equal(Number(data.evicted), 4);
  assert.match(await page.locator('#store-list').textContent(), /encoder of litemedsam: 2/);
  await page.click('#clear-store');
  await page.waitForFunction(() => document.querySelector('#store-line').dataset.entries === '0', null, { timeout: TIMEOUT });
  assert.deepEqual(problems, []);
  await context.close();
});
