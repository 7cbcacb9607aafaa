// Run the evaluation set's challenge cases through daftseg's wasm Engine in Debian's Chromium and
// write the predictions as NPZ (`segs`), for `daftseg eval`. Prints case,encode_ms,decode_ms,total_ms.
//   node scripts/eval-browser.mjs --cases models/.cache/eval/imgs --out models/.cache/eval/pred_browser
import { execSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { readNpz, writeNpz } from './npz.mjs';
import { startServer } from './serve.mjs';

const { values } = parseArgs({ options: { cases: { type: 'string' }, out: { type: 'string' } } });
mkdirSync(values.out, { recursive: true });
const executablePath = execSync('command -v chromium', { shell: '/bin/bash' }).toString().trim();
const server = await startServer({ port: 0 });
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/bench.html`);
  console.log('case,encode_ms,decode_ms,total_ms');
  for (const file of readdirSync(values.cases).filter((f) => f.endsWith('.npz')).sort()) {
    const npz = readNpz(readFileSync(join(values.cases, file)));
    const columns = npz.boxes.shape[1];
    const boxes = [];
    for (let i = 0; i < npz.boxes.shape[0]; i++) boxes.push(Array.from(npz.boxes.data.slice(columns * i, columns * (i + 1)), Number));
    const pixels = Buffer.from(npz.imgs.data.buffer, npz.imgs.data.byteOffset, npz.imgs.data.byteLength).toString('base64');
    const threeD = columns === 6;
    let result;
    let shape;
    if (threeD) {
      const [depth, height, width] = npz.imgs.shape;
      shape = [depth, height, width];
      result = await page.evaluate(([d, h, w, v, b]) => window.segmentVolume(d, h, w, v, b), [depth, height, width, pixels, boxes]);
    } else {
      const [height, width, channels] = npz.imgs.shape;
      if (channels !== 3) throw new Error(`${file}: 2D imgs must be HxWx3`);
      shape = [height, width];
      result = await page.evaluate(([w, h, p, b]) => window.segmentCase(w, h, p, b), [width, height, pixels, boxes]);
    }
    const labels = new Uint16Array(Buffer.from(result.labels, 'base64').buffer.slice(0));
    const max = labels.reduce((m, v) => Math.max(m, v), 0);
    const segs = max <= 255 ? Uint8Array.from(labels) : labels;
    writeFileSync(join(values.out, file), writeNpz({ segs: { shape, data: segs } }));
    const total = result.encodeMs + result.decodeMs;
    console.log(`${file.replace(/\.npz$/, '')},${result.encodeMs.toFixed(1)},${result.decodeMs.toFixed(1)},${total.toFixed(1)}`);
  }
} finally {
  await browser.close();
  server.close();
}
