// Every DICOM test file pydicom ships (models/.venv, see models/setup.sh) through the browser
// engine (www/pkg, the single-thread module, in Node): open it, then check the engine still
// works by opening a real image. A panic would leave the module dead ("unreachable"), so the
// second open tells. docs/RELIABILITY.md has the results.
//   node scripts/reader-corpus-wasm.mjs
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('..', import.meta.url);
const python = new URL('models/.venv/bin/python', root).pathname;
const dir = execFileSync(python, ['-c', 'import pydicom, pathlib; print(pathlib.Path(pydicom.__file__).parent / "data" / "test_files")'], { encoding: 'utf8' }).trim();
const files = [];
for (const entry of readdirSync(dir)) {
  const path = join(dir, entry);
  if (statSync(path).isDirectory()) {
    for (const inner of readdirSync(path)) if (inner.endsWith('.dcm')) files.push(join(path, inner));
  } else if (entry.endsWith('.dcm')) files.push(path);
}
files.sort();

const pkg = new URL('www/pkg/', root);
const module = await import(new URL('daftseg.js', pkg));
await module.default({ module_or_path: readFileSync(new URL('daftseg_bg.wasm', pkg)) });
const engine = new module.Engine(readFileSync(new URL('models/manifest.json', root), 'utf8'));
const probe = readFileSync(new URL('tests/fixtures/images/mr_small.png', root));
let opened = 0;
let refused = 0;
let dead = 0;
console.log('result\tfile\tmessage');
for (const path of files) {
  const name = path.split('/').pop();
  let line;
  try {
    const info = engine.open([name], [readFileSync(path)]);
    opened += 1;
    line = `open\t${name}\t${info.width}x${info.height}x${info.depth}`;
  } catch (error) {
    refused += 1;
    line = `${error.name}\t${name}\t${String(error.message).split('\n')[0]}`;
  }
  try {
    engine.open(['probe.png'], [probe]);
  } catch (error) {
    dead += 1;
    line += `\tENGINE DEAD AFTERWARDS: ${error}`;
  }
  console.log(line);
}
console.log(`# ${files.length} files: ${opened} open, ${refused} refused, engine dead after ${dead}`);
process.exit(dead === 0 ? 0 : 1);
