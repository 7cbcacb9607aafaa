// The reader corpus through the browser's engine (www/pkg, in Node as the worker loads it):
// every file of tests/corpus/expected.tsv (pydicom's, pydicom-data's and nibabel's test files,
// fetched by scripts/fetch-corpus.sh, and the hostile files tests/hostile.rs generates) opens
// with its stated size or is refused with its stated message, in the browser column of its row.
// After each, the engine must still open a real image: a panic would leave the module dead
// ("unreachable"), and so would running out of wasm memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { ROOT, fixture } from './helpers.mjs';

const corpus = new URL('tests/corpus/files/', ROOT);

function rows() {
  const text = readFileSync(new URL('tests/corpus/expected.tsv', ROOT), 'utf8');
  return text.split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((line) => {
    const [file, klass, native, browser] = line.split('\t');
    return { file, klass, expected: browser === '=' ? native : browser };
  });
}

test('every corpus file opens or is refused in the wasm engine as expected, and the engine survives each', async () => {
  assert.ok(existsSync(new URL('pydicom/', corpus)), 'tests/corpus/files is missing: run scripts/fetch-corpus.sh (npm test does)');
  assert.ok(existsSync(new URL('hostile/', corpus)), 'tests/corpus/files/hostile is missing: cargo test (tests/hostile.rs) writes it');
  const pkg = new URL('www/pkg/', ROOT);
  const module = await import(new URL('daftseg.js', pkg));
  const wasm = await module.default({ module_or_path: readFileSync(new URL('daftseg_bg.wasm', pkg)) });
  const engine = new module.Engine(readFileSync(new URL('models/manifest.json', ROOT), 'utf8'));
  const probe = readFileSync(fixture('images/mr_small.png'));
  const failures = [];
  let opened = 0;
  let refused = 0;
  for (const { file, klass, expected } of rows()) {
    if (expected === '-') continue;
    const bytes = readFileSync(new URL(file, corpus));
    const name = file.split('/').pop();
    let result;
    try {
      const info = engine.open([name], [bytes]);
      result = `open ${info.width}x${info.height}x${info.depth}`;
    } catch (error) {
      result = `refuse ${error.name}: ${error.message}`;
    }
    if (expected.startsWith('open ')) {
      opened += 1;
      if (result !== expected) failures.push(`${file}: should ${expected}, got ${result}`);
    } else {
      refused += 1;
      const fragment = expected.slice('refuse '.length);
      if (!result.startsWith('refuse ') || !result.includes(fragment)) {
        failures.push(`${file}: should be refused (${klass}) with ${JSON.stringify(fragment)}, got ${result}`);
      }
    }
    try {
      engine.open(['probe.png'], [probe]);
    } catch (error) {
      failures.push(`${file}: the engine is dead afterwards: ${error}`);
      break;
    }
  }
  // The fuzzers' findings (tests/robustness.rs checks them natively).
  for (const name of readdirSync(fixture('fuzz'))) {
    // Refused (tests/robustness.rs checks each message natively), and the engine lives on.
    assert.throws(() => engine.open([name], [readFileSync(fixture(`fuzz/${name}`))]), /DecodeError|InvalidInputError/, name);
    engine.open(['probe.png'], [probe]);
  }
  const memory = wasm.memory.buffer.byteLength / 2 ** 20;
  console.log(`# corpus in wasm: ${opened} opened, ${refused} refused, wasm memory at the end ${memory} MiB`);
  assert.ok(opened >= 130 && refused >= 220, `too few rows ran (${opened} opened, ${refused} refused)`);
  assert.deepEqual(failures, []);
});
