// Benchmark helper: the tract encoder in a web worker, as the app runs it (npm run bench).
import init, { Engine } from './pkg/daftseg.js';
self.onmessage = async ({ data }) => {
  await init();
  const manifestText = await (await fetch('models/manifest.json')).text();
  const model = JSON.parse(manifestText).models[0];
  const get = async (f) => new Uint8Array(await (await fetch(`models/${f}`)).arrayBuffer());
  const engine = new Engine(manifestText);
  engine.load_model(model.id, await get(model.encoder.file), await get(model.decoder.file));
  engine.open_image(new Uint8Array(data.image));
  const times = [];
  for (let i = 0; i < data.n; i++) {
    const t = performance.now();
    engine.bench_encode(model.id);
    times.push(Math.round(performance.now() - t));
  }
  self.postMessage(times);
};
