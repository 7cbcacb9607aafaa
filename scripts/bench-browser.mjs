// npm run bench: tract-wasm vs onnxruntime-web in Debian's Chromium, interleaved per iteration,
// once under Chromium's default wasm tiering and once with dynamic tiering off. Prints Markdown
// (per-iteration times, medians, ratios) for docs/BENCHMARKS.md.
//   node scripts/bench-browser.mjs [--iterations 8] [--image tests/fixtures/images/ct_lung.png]
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from './serve.mjs';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '8' },
    image: { type: 'string', default: 'tests/fixtures/images/ct_lung.png' },
  },
});
const iterations = Number(values.iterations);
const image = Array.from(readFileSync(values.image));
const executablePath = execSync('command -v chromium', { shell: '/bin/bash' }).toString().trim();
const baseArgs = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const configurations = [
  ['default tiering', []],
  ['--no-wasm-dynamic-tiering', ['--js-flags=--no-wasm-dynamic-tiering']],
];

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const list = (v) => v.map((x) => x.toFixed(0)).join(', ');

const server = await startServer({ port: 0 });
const origin = `http://127.0.0.1:${server.address().port}`;
const lines = [];
let userAgent = '';
for (const [name, flags] of configurations) {
  const browser = await chromium.launch({ executablePath, args: [...baseArgs, ...flags] });
  const page = await browser.newPage();
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  await page.goto(`${origin}/bench.html`);
  const result = await page.evaluate(([bytes, n]) => window.runBench(new Uint8Array(bytes), n), [image, iterations]);
  userAgent = result.userAgent;
  const inWorker = await page.evaluate(([bytes, n]) => window.runWorkerBench(new Uint8Array(bytes), n), [image, iterations]);
  await browser.close();
  const row = (engine, stage) => result[engine][stage];
  lines.push(`### ${name}`, '', '| stage | tract-wasm median ms | onnxruntime-web median ms | ratio tract/ort | tract per iteration | onnxruntime-web per iteration |', '|---|---|---|---|---|---|');
  for (const stage of ['encode', 'decode']) {
    const t = row('tract', stage);
    const o = row('ort', stage);
    lines.push(`| ${stage} | ${median(t).toFixed(0)} | ${median(o).toFixed(0)} | ${(median(t) / median(o)).toFixed(2)} | ${list(t)} | ${list(o)} |`);
  }
  lines.push('', `tract-wasm encoder in a web worker, as the app runs it (ms per iteration): ${list(inWorker)}; median ${median(inWorker).toFixed(0)}.`);
  lines.push('');
  console.error(`${name}: done`);
}
server.close();
console.log(`Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; ${new Date().toISOString().slice(0, 10)}; ${userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? userAgent}; ` +
  `image ${values.image}; ${iterations} iterations, interleaved (tract encode, tract decode, ort encode, ort decode).\n`);
console.log(lines.join('\n'));
