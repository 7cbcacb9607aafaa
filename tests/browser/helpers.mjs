// Shared by the JavaScript tests: fixture files, PNG label maps, IoU.
import { existsSync, readFileSync } from 'node:fs';
import { PNG } from 'pngjs';

export const ROOT = new URL('../../', import.meta.url);
export const fixture = (path) => new URL(`tests/fixtures/${path}`, ROOT);
export const cases = () => JSON.parse(readFileSync(fixture('cases.json'), 'utf8'));

/** The labels of an 8- or 16-bit grey PNG, one number per pixel. */
export function pngLabels(buffer) {
  const png = PNG.sync.read(buffer, { skipRescale: true });
  const { width, height, data, depth } = png;
  const labels = new Uint16Array(width * height);
  // pngjs gives RGBA; 16-bit images come as Uint16 samples when skipRescale is set.
  for (let p = 0; p < labels.length; p++) labels[p] = data[4 * p];
  return { width, height, depth, labels };
}

export function iou(a, b, label) {
  let inter = 0;
  let union = 0;
  for (let p = 0; p < a.length; p++) {
    const x = a[p] === label;
    const y = b[p] === label;
    inter += x && y;
    union += x || y;
  }
  return union === 0 ? 1 : inter / union;
}

/** Debian's Chromium, as every browser test runs it. */
export async function launchChromium() {
  const { execSync } = await import('node:child_process');
  const { chromium } = await import('playwright-core');
  const executablePath = execSync('command -v chromium', { shell: '/bin/bash' }).toString().trim();
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Image pixel (x, y) (its centre) to a point on the screen, through the one scale and offset
 * of the fitted view (the image centred in the canvas). */
async function screenMapping(page, width, height) {
  const view = await page.evaluate(() => {
    const canvas = document.querySelector('#viewer');
    const rect = canvas.getBoundingClientRect();
    return { left: rect.left, top: rect.top, cssScale: rect.width / canvas.width, cw: canvas.width, ch: canvas.height };
  });
  const scale = Math.min(view.cw / width, view.ch / height);
  const offX = (view.cw - width * scale) / 2;
  const offY = (view.ch - height * scale) / 2;
  return (x, y) => [view.left + (offX + (x + 0.5) * scale) * view.cssScale, view.top + (offY + (y + 0.5) * scale) * view.cssScale];
}

/** Drag a box given in image pixels with the mouse. */
export async function dragBox(page, box, width, height) {
  const screen = await screenMapping(page, width, height);
  const [x0, y0] = screen(box[0], box[1]);
  const [x1, y1] = screen(box[2], box[3]);
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  await page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, { steps: 4 });
  await page.mouse.move(x1, y1, { steps: 4 });
  await page.mouse.up();
}

/** Click image pixel `[x, y]`: `button` 'left' or 'right', `alt` holding Alt. */
export async function clickPixel(page, [x, y], width, height, { button = 'left', alt = false } = {}) {
  const screen = await screenMapping(page, width, height);
  if (alt) await page.keyboard.down('Alt');
  await page.mouse.click(...screen(x, y), { button });
  if (alt) await page.keyboard.up('Alt');
}

/** Press the mouse at the first of `points` (image pixels), move through the others, release:
 * a brush or eraser stroke (one point: a click). */
export async function dragPath(page, points, width, height) {
  const screen = await screenMapping(page, width, height);
  await page.mouse.move(...screen(...points[0]));
  await page.mouse.down();
  for (const point of points.slice(1)) await page.mouse.move(...screen(...point), { steps: 8 });
  await page.mouse.up();
}

/** Whether build.sh made the threaded module; CI (DAFTSEG_REQUIRE_THREADS=1) insists on it. */
export function threadedModuleBuilt() {
  const built = existsSync(new URL('www/pkg-threads/daftseg_bg.wasm', ROOT));
  if (!built && process.env.DAFTSEG_REQUIRE_THREADS === '1') throw new Error('www/pkg-threads is missing: build.sh could not build the threaded module');
  return built;
}

/** What the page's engine line must say under this run's server: the threaded module whenever
 * the page is cross-origin isolated (and the module was built), else the single-thread one. */
export function expectedEngine() {
  const isolated = process.env.DAFTSEG_ISOLATION !== 'off';
  return isolated && threadedModuleBuilt() ? /^threads: ([2-9]|\d\d+)$/ : /^single-thread$/;
}

/** The engine line once the worker has started. */
export async function engineLine(page, timeout) {
  await page.waitForFunction(() => document.querySelector('#engine').textContent !== 'starting', null, { timeout });
  return page.locator('#engine').textContent();
}

/** Console errors and uncaught page errors of a page, collected as they happen. */
export function watchProblems(page) {
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return problems;
}
