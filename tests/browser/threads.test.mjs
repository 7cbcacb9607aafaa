// The two browser builds side by side: the same page served cross-origin isolated runs the
// threaded module ("threads: N"), served without COOP/COEP the single-thread one; a box drawn
// in each gives the same mask, equal to PyTorch's. The thread setting is honoured on reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';
import { fixture, cases, pngLabels, iou, launchChromium, dragBox, threadedModuleBuilt, engineLine, watchProblems } from './helpers.mjs';

const TIMEOUT = 240_000;
let browser;
const servers = [];

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const server of servers) server.close();
});

async function serve(isolated) {
  const server = await startServer({ port: 0, isolated });
  servers.push(server);
  return `http://127.0.0.1:${server.address().port}`;
}

/** Opens the app, segments the CT slice's boxes, returns the engine line and the exported labels. */
async function segmentCt(origin) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const foreign = [];
  context.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('blob:') && !url.startsWith('data:')) foreign.push(url);
  });
  const page = await context.newPage();
  const problems = watchProblems(page);
  await page.goto(`${origin}/`);
  const engine = await engineLine(page, TIMEOUT);
  const engineTitle = await page.locator('#engine').getAttribute('title');
  const ct = cases().find((c) => c.name === 'ct_lung');
  await page.setInputFiles('#open-file', fileURLToPath(fixture(ct.image)));
  const ready = (n) => page.waitForFunction((count) => {
    const items = [...document.querySelectorAll('#object-list li')];
    return items.length === count && document.querySelector('#status').textContent === 'ready' && items.every((li) => li.dataset.mask === '1');
  }, n, { timeout: TIMEOUT });
  await ready(0);
  for (const [i, box] of ct.boxes.entries()) {
    await dragBox(page, box, ct.width, ct.height);
    await ready(i + 1);
  }
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-mask')]);
  const labels = pngLabels(readFileSync(await download.path())).labels;
  assert.deepEqual(foreign, [], 'requests outside the origin');
  assert.deepEqual(problems, []);
  return { engine, engineTitle, labels, context, page, boxes: ct.boxes.length };
}

test('isolated: threads; not isolated: single-thread; the same masks, equal to PyTorch', { timeout: TIMEOUT * 4 }, async (t) => {
  if (!threadedModuleBuilt()) {
    t.skip('www/pkg-threads was not built (build.sh says why): only the single-thread module exists');
    return;
  }
  const threaded = await segmentCt(await serve(true));
  const single = await segmentCt(await serve(false));
  assert.match(threaded.engine, /^threads: ([2-9]|\d\d+)$/);
  assert.equal(single.engine, 'single-thread');
  assert.match(single.engineTitle, /not cross-origin isolated/);
  const expected = pngLabels(readFileSync(fixture('golden/ct_lung_segs.png'))).labels;
  for (let label = 1; label <= threaded.boxes; label++) {
    const value = iou(threaded.labels, expected, label);
    assert.ok(value >= 0.99, `label ${label}: IoU ${value.toFixed(4)} against PyTorch`);
  }
  let differing = 0;
  for (let p = 0; p < expected.length; p++) differing += threaded.labels[p] !== single.labels[p];
  assert.equal(differing, 0, 'the threaded and the single-thread module give different masks');

  // The thread setting: 1 thread asked for, the single-thread module after a reload.
  await threaded.page.fill('#threads-setting', '1');
  await threaded.page.dispatchEvent('#threads-setting', 'change');
  await threaded.page.reload();
  assert.equal(await engineLine(threaded.page, TIMEOUT), 'single-thread');
  assert.match(await threaded.page.locator('#engine').getAttribute('title'), /1 thread was asked for/);
  await threaded.context.close();
  await single.context.close();
});

/** The bench page (cross-origin isolated), ready to start engine workers (`window.benchWorker`). */
async function benchPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${await serve(true)}/bench.html`);
  await page.waitForFunction(() => typeof window.benchWorker === 'function');
  return { context, page };
}

test('every golden case: the threaded module with 2 threads gives the single-thread module\'s masks, equal to PyTorch\'s', { timeout: TIMEOUT * 6 }, async (t) => {
  if (!threadedModuleBuilt()) {
    t.skip('www/pkg-threads was not built (build.sh says why)');
    return;
  }
  const { context, page } = await benchPage();
  const golden = cases().map((c) => ({ name: c.name, boxes: c.boxes, image: [...readFileSync(fixture(c.image))] }));
  const results = await page.evaluate(async (goldenCases) => {
    const labels = {};
    for (const threads of [1, 2]) {
      const { call, terminate } = window.benchWorker();
      await call({ type: 'setup', engine: 'tract', threads, image: new Uint8Array(goldenCases[0].image).buffer });
      for (const c of goldenCases) {
        (labels[c.name] ||= {})[threads] = (await call({ type: 'segment', image: new Uint8Array(c.image).buffer, boxes: c.boxes })).labels;
      }
      terminate();
    }
    // Compared here; only the 2-thread labels travel back, as base64 (large arrays cross slowly).
    const out = {};
    for (const [name, { 1: one, 2: two }] of Object.entries(labels)) {
      let differing = one.length === two.length ? 0 : Infinity;
      for (let p = 0; p < two.length; p++) differing += one[p] !== two[p];
      const bytes = new Uint8Array(two.buffer);
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      out[name] = { differing, two: btoa(binary) };
    }
    return out;
  }, golden);
  for (const c of cases()) {
    const expected = pngLabels(readFileSync(fixture(`golden/${c.name}_segs.png`))).labels;
    const { differing, two: encoded } = results[c.name];
    const bytes = Buffer.from(encoded, 'base64');
    const two = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
    assert.equal(two.length, expected.length, c.name);
    assert.equal(differing, 0, `${c.name}: 2 threads differ from 1 in ${differing} pixels`);
    for (let label = 1; label <= c.boxes.length; label++) {
      const value = iou(two, expected, label);
      assert.ok(value >= 0.99, `${c.name} label ${label}: IoU ${value.toFixed(4)} against PyTorch`);
    }
  }
  await context.close();
});

test('daftseg\'s fused operators give tract\'s own embedding, bit for bit, in both modules', { timeout: TIMEOUT * 2 }, async (t) => {
  if (!threadedModuleBuilt()) {
    t.skip('www/pkg-threads was not built (build.sh says why)');
    return;
  }
  const { context, page } = await benchPage();
  const image = [...readFileSync(fixture('images/ct_lung.png'))];
  const results = await page.evaluate(async (bytes) => {
    const out = [];
    // 1 thread: the single-thread module; 2: the threaded one on a pool of 2.
    for (const threads of [1, 2]) {
      const embeddings = {};
      for (const fusedOps of [false, true]) {
        const { call, terminate } = window.benchWorker();
        await call({ type: 'setup', engine: 'tract', threads, fusedOps, image: new Uint8Array(bytes).buffer });
        embeddings[fusedOps] = await call({ type: 'embedding' });
        terminate();
      }
      const plain = new Uint32Array(embeddings.false.values.buffer);
      const fused = new Uint32Array(embeddings.true.values.buffer);
      let differing = plain.length === fused.length && plain.length > 0 ? 0 : Infinity;
      for (let i = 0; i < plain.length; i++) differing += plain[i] !== fused[i];
      const { attention, depthwise, layerNorm } = embeddings.true;
      const replacedWithout = embeddings.false.attention + embeddings.false.depthwise + embeddings.false.layerNorm;
      out.push({ threads, differing, fused: [attention, depthwise, layerNorm], replacedWithout });
    }
    return out;
  }, image);
  for (const { threads, differing, fused, replacedWithout } of results) {
    // Every window attention, depthwise convolution and layer norm of TinyViT was replaced.
    assert.deepEqual(fused, [10, 15, 20], `${threads} thread(s): subgraphs replaced`);
    assert.equal(replacedWithout, 0);
    assert.equal(differing, 0, `${threads} thread(s): ${differing} values differ from tract's own operators'`);
  }
  await context.close();
});
