// Static server for the app: www/ at /, models/ at /models/, the sample studies www/samples.json
// lists at /samples/, on 127.0.0.1 only.
// Cross-origin isolation headers (COOP/COEP: SharedArrayBuffer, so the threaded wasm module can
// run) and a Content-Security-Policy that allows no request outside this origin: no pixel and no
// model leaves the machine. DAFTSEG_ISOLATION=off serves without COOP/COEP, as a host that cannot
// set them would: the app then runs its single-thread module (the tests check both).
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.dcm': 'application/dicom',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
};
export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  // blob: because wasm-bindgen-rayon starts each pool worker from a blob: URL holding its own
  // same-origin script. A blob: URL can only be made by script already running in this origin,
  // and connect-src below still keeps every request inside the origin.
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

// URL prefix -> folder. onnxruntime-web is served for the benchmark page only (npm run bench).
const MOUNTS = [
  ['/models/', join(ROOT, 'models')],
  ['/vendor/onnxruntime-web/', join(ROOT, 'node_modules', 'onnxruntime-web', 'dist')],
];

// Sample studies (www/samples.json): each URL is served from its test fixture, and only those.
const SAMPLES = new Map(
  JSON.parse(readFileSync(join(ROOT, 'www', 'samples.json'), 'utf8')).samples.flatMap((sample) => sample.files.map((f) => [`/${f.url}`, join(ROOT, f.from)])),
);

function resolvePath(urlPath) {
  const path = decodeURIComponent(urlPath.split('?')[0]);
  if (path.startsWith('/samples/')) return SAMPLES.get(path) ?? null;
  const mount = MOUNTS.find(([prefix]) => path.startsWith(prefix));
  const [base, rest] = mount ? [mount[1], path.slice(mount[0].length)] : [join(ROOT, 'www'), path.slice(1) || 'index.html'];
  const full = normalize(join(base, rest));
  return full.startsWith(base + sep) ? full : null; // no way out of the two folders
}

export function startServer({ port = 8080, host = '127.0.0.1', isolated = process.env.DAFTSEG_ISOLATION !== 'off' } = {}) {
  const isolation = isolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
  const server = createServer(async (req, res) => {
    const headers = {
      ...isolation,
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-cache',
    };
    const file = resolvePath(req.url || '/');
    try {
      if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) throw Object.assign(new Error('not found'), { code: 'ENOENT' });
      const info = await stat(file);
      if (!info.isFile()) throw Object.assign(new Error('not found'), { code: 'ENOENT' });
      const body = await readFile(file);
      res.writeHead(200, { ...headers, 'Content-Type': MIME[extname(file)] || 'application/octet-stream', 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (error) {
      res.writeHead(error.code === 'ENOENT' ? 404 : 500, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(error.code === 'ENOENT' ? 'not found\n' : 'server error\n');
    }
  });
  return new Promise((done) => server.listen(port, host, () => done(server)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT || 8080);
  const server = await startServer({ port });
  if (process.env.DAFTSEG_ISOLATION === 'off') console.log('not cross-origin isolated (DAFTSEG_ISOLATION=off): the app runs on one thread');
  console.log(`daftseg is running at http://127.0.0.1:${server.address().port}/  (Ctrl+C to stop)`);
}
