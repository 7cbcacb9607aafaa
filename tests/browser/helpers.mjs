// Shared by the JavaScript tests: fixture files, PNG label maps, IoU.
import { readFileSync } from 'node:fs';
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
