// Refining and editing in a real browser, with the mouse and the keys: clicks on and off the
// object against PyTorch's masks (decoder only); brush, eraser, fill holes and keep largest on a
// real CT slice, each one undo step, kept over the model's labels when the model changes; on a
// real CT series, a click off the object, then brush and eraser strokes on the 3D result that
// reach the NIfTI and the DICOM SEG (semi-automatic, checked by the independent validators),
// undo/redo, and the SEG opened again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';
import { fixture, cases, pngLabels, launchChromium, dragBox, dragPath, clickPixel, watchProblems } from './helpers.mjs';
import { readNpz } from '../../scripts/npz.mjs';

const TIMEOUT = Number(process.env.DAFTSEG_TEST_TIMEOUT ?? 240_000);
let server;
let origin;
let browser;
let context;

before(async () => {
  server = await startServer({ port: 0 });
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function waitReady(page) {
  try {
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll('#object-list li')];
      return document.querySelector('#status').textContent === 'ready' && items.every((li) => li.dataset.mask === '1');
    }, null, { timeout: TIMEOUT });
  } catch (error) {
    // Say what the page shows instead.
    const status = await page.locator('#status').textContent();
    const items = await page.locator('#object-list li').evaluateAll((lis) => lis.map((li) => li.dataset.mask));
    throw new Error(`not ready: status "${status}", masks ${JSON.stringify(items)}: ${error.message}`);
  }
}

/** The exported label PNG of what is shown (an image's labels, a volume's slice). */
async function exportMask(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-mask')]);
  return pngLabels(readFileSync(await download.path())).labels;
}

/** Wait until the first object has `n` manual edits and the page is ready again. */
async function waitEdits(page, n) {
  await page.waitForFunction((n) => document.querySelector('#object-list li')?.dataset.edits === String(n) && document.querySelector('#status').textContent === 'ready', n, { timeout: TIMEOUT });
}

const distanceToSegment = ([px, py], [ax, ay], [bx, by]) => {
  const [dx, dy] = [bx - ax, by - ay];
  const t = dx || dy ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy))) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
};

/** Every pixel within `inside` px of the stroke a-b is `value`; every pixel farther than `outside`
 * px is as it was in `before`. */
function assertStroke(labels, before, width, [a, b], value, inside, outside) {
  let painted = 0;
  for (let p = 0; p < labels.length; p++) {
    const d = distanceToSegment([p % width, Math.floor(p / width)], a, b);
    if (d <= inside) {
      assert.equal(labels[p], value, `pixel ${p % width},${Math.floor(p / width)} (${d.toFixed(2)} px from the stroke)`);
      painted++;
    } else if (d > outside) {
      assert.equal(labels[p], before[p], `pixel ${p % width},${Math.floor(p / width)} is ${d.toFixed(2)} px from the stroke and changed`);
    }
  }
  assert.ok(painted > 10, `${painted} pixels checked under the stroke`);
}

const changedPixels = (a, b) => a.reduce((n, v, i) => n + (v !== b[i]), 0);

/** 4-connected parts of the pixels where `inside(p)`: a part number per pixel (0: none). */
function parts(length, width, inside) {
  const part = new Int32Array(length);
  let count = 0;
  for (let start = 0; start < length; start++) {
    if (!inside(start) || part[start]) continue;
    part[start] = ++count;
    const stack = [start];
    while (stack.length) {
      const p = stack.pop();
      const x = p % width;
      for (const q of [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, p - width, p + width]) {
        if (q >= 0 && q < length && inside(q) && !part[q]) {
          part[q] = count;
          stack.push(q);
        }
      }
    }
  }
  return part;
}

/** Background enclosed by `label` (not reaching the edge) becomes `label`. */
function fillHoles(labels, width, label) {
  const part = parts(labels.length, width, (p) => labels[p] !== label);
  const height = labels.length / width;
  const outside = new Set();
  labels.forEach((_, p) => {
    const [x, y] = [p % width, Math.floor(p / width)];
    if (part[p] && (x === 0 || y === 0 || x === width - 1 || y === height - 1)) outside.add(part[p]);
  });
  return labels.map((v, p) => (v === 0 && !outside.has(part[p]) ? label : v));
}

/** Only the largest 4-connected part of `label` stays. */
function keepLargest(labels, width, label) {
  const part = parts(labels.length, width, (p) => labels[p] === label);
  const sizes = new Map();
  for (const k of part) if (k) sizes.set(k, (sizes.get(k) ?? 0) + 1);
  const largest = [...sizes].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
  return labels.map((v, p) => (v === label && part[p] !== largest ? 0 : v));
}

/** A horizontal stroke of `length` px, `margin` px clear of every label, on rows from `fromRow`. */
function clearStroke(labels, width, height, length, margin, fromRow) {
  for (let y = fromRow; y < height - margin; y += 4) {
    for (let x = margin; x + length < width - margin; x += 8) {
      let clear = true;
      for (let yy = y - margin; yy <= y + margin && clear; yy++) for (let xx = x - margin; xx <= x + length + margin && clear; xx++) clear = labels[yy * width + xx] === 0;
      if (clear) return [[x, y], [x + length, y]];
    }
  }
  throw new Error('no clear place for a stroke');
}

async function setBrush(page, radius) {
  await page.locator('#brush-size').evaluate((input, radius) => {
    input.value = radius;
    input.dispatchEvent(new Event('input'));
  }, radius);
}

test('brush, eraser, fill holes and keep largest on a CT slice: undo steps, kept across a model switch', { timeout: TIMEOUT * 3 }, async () => {
  const page = await context.newPage();
  const problems = watchProblems(page);
  await page.goto(`${origin}/`);
  const ct = cases().find((c) => c.name === 'ct_lung');
  const { width, height } = ct;
  await page.setInputFiles('#open-file', fileURLToPath(fixture(ct.image)));
  await waitReady(page);
  await dragBox(page, ct.boxes[0], width, height);
  await page.waitForFunction(() => document.querySelectorAll('#object-list li').length === 1);
  await waitReady(page);
  const model = await exportMask(page);
  assert.ok(model.some((v) => v === 1), 'the box has its mask');

  // Tools act on the selected object (a new box is selected).
  await page.keyboard.press('b');
  assert.equal(await page.locator('#mode-brush').getAttribute('class'), 'active');
  await setBrush(page, 3);
  assert.equal(await page.locator('#brush-size-label').textContent(), '3 px');
  await page.click('#object-list li');

  // A brush stroke in empty tissue: the object grows there, nowhere else.
  const paint = clearStroke(model, width, height, 24, 8, 20);
  await dragPath(page, paint, width, height);
  await waitEdits(page, 1);
  const painted = await exportMask(page);
  assertStroke(painted, model, width, paint, 1, 2, 4.5);

  // An eraser stroke across the mask: only the object's pixels under it go.
  const ys = [];
  const xs = [];
  model.forEach((v, p) => {
    if (v === 1) {
      xs.push(p % width);
      ys.push(Math.floor(p / width));
    }
  });
  const row = Math.round(ys.reduce((a, b) => a + b) / ys.length);
  const erase = [[Math.min(...xs) - 2, row], [Math.max(...xs) + 2, row]];
  await page.keyboard.press('e');
  await dragPath(page, erase, width, height);
  await waitEdits(page, 2);
  const erased = await exportMask(page);
  assertStroke(erased, painted, width, erase, 0, 2, 4.5);
  assert.match(await page.locator('#object-list li').textContent(), /2 manual edits/);

  // Undo and redo step through the strokes without running the model.
  const runs = await page.locator('#encoder-runs').getAttribute('data-runs');
  await page.keyboard.press('Control+z');
  await waitEdits(page, 1);
  assert.deepEqual(await exportMask(page), painted);
  await page.keyboard.press('Control+z');
  await waitEdits(page, 0);
  assert.deepEqual(await exportMask(page), model);
  await page.keyboard.press('Control+Shift+z');
  await waitEdits(page, 1);
  await page.keyboard.press('Control+Shift+z');
  await waitEdits(page, 2);
  assert.deepEqual(await exportMask(page), erased);
  assert.equal(await page.locator('#encoder-runs').getAttribute('data-runs'), runs);

  // Another model (the CT decoder): its own mask, with both strokes over it again.
  await page.selectOption('#model-select', 'daft-ct');
  await page.waitForFunction(() => /^daft-ct/.test(document.querySelector('#model-name').textContent), null, { timeout: TIMEOUT });
  await waitReady(page);
  await waitEdits(page, 2);
  await page.click('#object-list li'); // the keys go to the page again, not to the menu
  const switched = await exportMask(page);
  assertStroke(switched, switched, width, paint, 1, 2, Infinity);
  assertStroke(switched, switched, width, erase, 0, 2, Infinity);
  assert.ok(changedPixels(switched, erased) > 0, 'the other model gives another mask');

  // A click with the eraser inside the mask makes a hole; Fill holes (F) closes it (and only
  // what an independent flood fill says is enclosed).
  const inside = switched.findIndex((v, p) => {
    const [x, y] = [p % width, Math.floor(p / width)];
    if (v !== 1 || Math.abs(y - row) < 8 || x < 3 || y < 3) return false;
    for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) if (switched[p + dy * width + dx] !== 1) return false;
    return true;
  });
  assert.ok(inside > 0, 'a place inside the mask');
  await page.keyboard.press('e');
  await setBrush(page, 1);
  await dragPath(page, [[inside % width, Math.floor(inside / width)]], width, height);
  await waitEdits(page, 3);
  const holed = await exportMask(page);
  assert.equal(holed[inside], 0, 'the click erased');
  await page.keyboard.press('f');
  await waitEdits(page, 4);
  const filled = await exportMask(page);
  assert.equal(filled[inside], 1, 'the hole is filled');
  assert.deepEqual(filled, fillHoles(holed, width, 1));

  // A separate dab of brush; Keep largest (L) keeps only the largest part (by a flood fill).
  await page.keyboard.press('b');
  await setBrush(page, 2);
  const dab = clearStroke(filled, width, height, 0, 8, 20)[0];
  await dragPath(page, [dab], width, height);
  await waitEdits(page, 5);
  const dabbed = await exportMask(page);
  assert.equal(dabbed[dab[1] * width + dab[0]], 1);
  await page.keyboard.press('l');
  await waitEdits(page, 6);
  const largest = await exportMask(page);
  assert.equal(largest[dab[1] * width + dab[0]], 0);
  assert.deepEqual(largest, keepLargest(dabbed, width, 1));
  assert.equal(await page.locator('#object-list li').getAttribute('data-algorithm'), 'semiautomatic');
  assert.deepEqual(problems, []);
  await page.close();
});

test('on a CT series: a click off the object, then a brush and an eraser stroke on the 3D result, undo/redo, NIfTI and DICOM SEG, the SEG reopened', { timeout: TIMEOUT * 4 }, async () => {
  const page = await context.newPage();
  const problems = watchProblems(page);
  await page.goto(`${origin}/`);
  const folder = fileURLToPath(fixture('medical/ct_lung1_series'));
  await page.setInputFiles('#open-file', readdirSync(folder).map((name) => `${folder}/${name}`));
  await waitReady(page);
  const reference = JSON.parse(readFileSync(fixture('medical/reference.json'), 'utf8')).files.find((f) => f.name === 'ct_lung1_series');
  const [x0, y0, z0, x1, y1, z1] = reference.tumour_box3d;
  // The box on the tumour's middle slice, segmented in 3D there (one slice: the test is about
  // the edits).
  const z = Math.round((z0 + z1) / 2);
  await page.locator('#slice').evaluate((input, z) => {
    input.value = z;
    input.dispatchEvent(new Event('input'));
  }, z);
  await page.waitForFunction((z) => document.querySelector('#slice-label').textContent.startsWith(`${z} /`), z);
  // A loose box (15 px around the tumour): the mask leaks, and a click takes the leak away.
  const loose = [x0 - 15, y0 - 15, x1 + 15, y1 + 15];
  await dragBox(page, loose, 512, 512);
  await page.waitForFunction(() => document.querySelectorAll('#object-list li').length === 1);
  await waitReady(page);
  const item = page.locator('#object-list li');
  const px = async () => Number((await item.textContent()).match(/(\d+) px/)[1]);
  const boxPx = await px();
  const segment3d = async () => {
    await page.click('#segment-3d');
    await page.waitForFunction(() => !document.querySelector('#export-nifti').disabled && document.querySelector('#object-list li')?.dataset.volumeMl, null, { timeout: TIMEOUT });
  };
  await segment3d();
  const model = await exportMask(page);
  assert.equal(model.reduce((n, v) => n + (v > 0), 0), boxPx, 'one slice: the 3D result is the box\'s mask');
  assert.equal(await item.getAttribute('data-algorithm'), 'automatic');

  // A click off the object on the mask pixel farthest from the tumour's centre (the leak): the
  // slice's mask shrinks, and only the decoder ran.
  const [cx, cy] = [(x0 + x1) / 2, (y0 + y1) / 2];
  let far = -1;
  let farthest = -1;
  model.forEach((v, p) => {
    const d = Math.hypot((p % 512) - cx, Math.floor(p / 512) - cy);
    if (v && d > farthest) [far, farthest] = [p, d];
  });
  await clickPixel(page, [far % 512, Math.floor(far / 512)], 512, 512, { alt: true });
  await page.waitForFunction(() => document.querySelector('#object-list li')?.dataset.clicks === '1' && document.querySelector('#status').textContent === 'ready' && / px/.test(document.querySelector('#object-list li').textContent), null, { timeout: TIMEOUT });
  assert.ok(await px() < boxPx, `the click off the object shrinks the slice's mask (${boxPx} -> ${await px()} px)`);
  assert.equal(await page.locator('#timings').getAttribute('data-last-encoder-runs'), '0');
  // Segment 3D propagates the box (clicks refine a slice); the same result as before.
  await segment3d();
  assert.deepEqual(await exportMask(page), model);
  const modelMl = Number(await item.getAttribute('data-volume-ml'));

  // A brush stroke in empty tissue, then an eraser stroke across the mask, on the 3D result.
  await page.click('#object-list li');
  await page.keyboard.press('b');
  await setBrush(page, 4);
  assert.match(await page.locator('#brush-size-label').textContent(), /^4 px \([\d.]+ mm\)$/);
  const stroke = clearStroke(model, 512, 512, 30, 10, 100);
  await dragPath(page, stroke, 512, 512);
  await waitEdits(page, 1);
  await page.waitForFunction((ml) => Number(document.querySelector('#object-list li')?.dataset.volumeMl) > ml, modelMl, { timeout: TIMEOUT });
  const painted = await exportMask(page);
  assertStroke(painted, model, 512, stroke, 1, 3, 5.5);
  assert.equal(await item.getAttribute('data-algorithm'), 'semiautomatic');
  const row = Math.round(cy);
  const xs = [];
  model.forEach((v, p) => {
    if (v && Math.floor(p / 512) === row) xs.push(p % 512);
  });
  const erase = [[Math.min(...xs) - 2, row], [Math.max(...xs) + 2, row]];
  await page.keyboard.press('e');
  await dragPath(page, erase, 512, 512);
  await waitEdits(page, 2);
  const erased = await exportMask(page);
  assertStroke(erased, painted, 512, erase, 0, 3, 5.5);

  // Undo and redo through the strokes (no model run), back to both.
  await page.keyboard.press('Control+z');
  await waitEdits(page, 1);
  assert.deepEqual(await exportMask(page), painted);
  await page.keyboard.press('Control+z');
  await waitEdits(page, 0);
  await page.waitForFunction((ml) => Number(document.querySelector('#object-list li')?.dataset.volumeMl) === ml, modelMl, { timeout: TIMEOUT });
  assert.deepEqual(await exportMask(page), model);
  assert.ok(!(await page.locator('#export-nifti').isDisabled()), 'the 3D result is still there');
  await page.keyboard.press('Control+Shift+z');
  await waitEdits(page, 1);
  await page.keyboard.press('Control+Shift+z');
  await waitEdits(page, 2);
  assert.deepEqual(await exportMask(page), erased);

  // The NIfTI and the SEG hold the edits, and the validators read the same labels in both.
  const downloads = mkdtempSync(join(tmpdir(), 'daftseg-edit-'));
  const [nifti] = await Promise.all([page.waitForEvent('download'), page.click('#export-nifti')]);
  await nifti.saveAs(join(downloads, 'edited.nii.gz'));
  const [seg] = await Promise.all([page.waitForEvent('download'), page.click('#export-seg')]);
  await seg.saveAs(join(downloads, 'edited.dcm'));
  writeFileSync(join(downloads, 'names.json'), JSON.stringify(['CT structure 1']));
  const validators = spawnSync(fileURLToPath(new URL('../seg/.venv/bin/python', import.meta.url)), [
    fileURLToPath(new URL('../seg/validate.py', import.meta.url)), join(downloads, 'edited.dcm'), join(downloads, 'edited.nii.gz'), folder, join(downloads, 'names.json'),
  ], { encoding: 'utf8' });
  assert.equal(validators.status, 0, `${validators.stdout}${validators.stderr}`);
  const algorithm = spawnSync(fileURLToPath(new URL('../seg/.venv/bin/python', import.meta.url)), [
    '-c', 'import sys, pydicom; print(pydicom.dcmread(sys.argv[1]).SegmentSequence[0].SegmentAlgorithmType)', join(downloads, 'edited.dcm'),
  ], { encoding: 'utf8' });
  assert.equal(algorithm.stdout.trim(), 'SEMIAUTOMATIC', algorithm.stderr);

  // The exported SEG opens over the series again: the same labels, the same name.
  await page.setInputFiles('#open-labels', join(downloads, 'edited.dcm'));
  await page.waitForFunction(() => /labels: 1 objects from edited\.dcm/.test(document.querySelector('#timings').textContent), null, { timeout: TIMEOUT });
  await page.waitForFunction(() => !document.querySelector('#export-mask').disabled && document.querySelector('#status').textContent === 'ready', null, { timeout: TIMEOUT });
  assert.deepEqual(await exportMask(page), erased);
  assert.equal(await item.locator('input.name').inputValue(), 'CT structure 1');
  assert.equal(await item.getAttribute('data-algorithm'), 'semiautomatic');
  assert.deepEqual(problems, []);
  await page.close();
});

test('clicks on and off the object refine the mask as PyTorch does, with the decoder only; undo removes them', { timeout: TIMEOUT * 2 }, async () => {
  const page = await context.newPage();
  const problems = watchProblems(page);
  await page.goto(`${origin}/`);
  const ct = cases().find((c) => c.name === 'ct_lung');
  const { width, height } = ct;
  // PyTorch's masks for the box and then each click (models clicks golden).
  const golden = readNpz(readFileSync(fixture('golden/clicks_ct_lung.npz')));
  const box = [...golden.box.data].map(Number);
  const clicks = [];
  for (let i = 0; i < golden.clicks.shape[0]; i++) clicks.push([...golden.clicks.data.slice(3 * i, 3 * i + 3)]);
  const plane = width * height;
  const pytorch = (k) => golden.segs.data.slice(k * plane, (k + 1) * plane);
  const assertPyTorch = (labels, k) => {
    const expected = pytorch(k);
    let differ = 0;
    for (let p = 0; p < plane; p++) differ += (labels[p] > 0) !== (expected[p] > 0);
    assert.equal(differ, 0, `after ${k} clicks, ${differ} pixels differ from PyTorch`);
  };
  const area = (labels) => labels.reduce((n, v) => n + (v > 0), 0);
  await page.setInputFiles('#open-file', fileURLToPath(fixture(ct.image)));
  await waitReady(page);
  await dragBox(page, box, width, height);
  await page.waitForFunction(() => document.querySelectorAll('#object-list li').length === 1);
  await waitReady(page);
  assertPyTorch(await exportMask(page), 0);
  const waitClicks = (n) => page.waitForFunction((n) => document.querySelector('#object-list li')?.dataset.clicks === String(n) && document.querySelector('#status').textContent === 'ready' && document.querySelector('#object-list li').dataset.mask === '1', n, { timeout: TIMEOUT });

  // A click off the object where the mask leaks (Alt+click): it shrinks, and only the decoder
  // ran; then a click on the object.
  const [offX, offY, offPositive] = clicks[0];
  assert.equal(offPositive, 0);
  const zero = await exportMask(page);
  await clickPixel(page, [offX, offY], width, height, { alt: true });
  await waitClicks(1);
  const one = await exportMask(page);
  assertPyTorch(one, 1);
  assert.ok(area(one) < area(zero), `the click off the object shrinks the mask (${area(zero)} -> ${area(one)} px)`);
  assert.equal(await page.locator('#timings').getAttribute('data-last-encoder-runs'), '0');
  const [onX, onY, onPositive] = clicks[1];
  assert.equal(onPositive, 1);
  await clickPixel(page, [onX, onY], width, height);
  await waitClicks(2);
  const two = await exportMask(page);
  assertPyTorch(two, 2);
  assert.equal(await page.locator('#timings').getAttribute('data-last-encoder-runs'), '0');
  assert.match(await page.locator('#object-list li').textContent(), /2 clicks/);

  // Undo takes the clicks back; a right click is the same click off the object.
  await page.keyboard.press('Control+z');
  await waitClicks(1);
  assert.deepEqual(await exportMask(page), one);
  await page.keyboard.press('Control+z');
  await waitClicks(0);
  assert.deepEqual(await exportMask(page), zero);
  await clickPixel(page, [offX, offY], width, height, { button: 'right' });
  await waitClicks(1);
  assert.deepEqual(await exportMask(page), one);
  await page.keyboard.press('Control+z');
  await waitClicks(0);
  await page.keyboard.press('Control+Shift+z');
  await waitClicks(1);
  assert.deepEqual(await exportMask(page), one);
  assert.deepEqual(problems, []);
  await page.close();
});
