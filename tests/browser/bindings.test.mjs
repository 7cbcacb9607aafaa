// The wasm module's bindings, loaded in Node exactly as the worker loads them: real models,
// real images, and every kind of bad input from JavaScript giving an Error, never a panic.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { ROOT, fixture, cases, pngLabels, iou } from './helpers.mjs';
import { writeNpz } from '../../scripts/npz.mjs';

const pkg = new URL('www/pkg/', ROOT);
let Engine;
const manifestText = readFileSync(new URL('models/manifest.json', ROOT), 'utf8');
const manifest = JSON.parse(manifestText);
const modelBytes = (file) => readFileSync(new URL(`models/${file}`, ROOT));

before(async () => {
  const module = await import(new URL('daftseg.js', pkg));
  await module.default({ module_or_path: readFileSync(new URL('daftseg_bg.wasm', pkg)) });
  Engine = module.Engine;
});

test('a real CT slice segments like PyTorch inside wasm', () => {
  const engine = new Engine(manifestText);
  const entry = manifest.models[0];
  engine.loadModel(entry.id, modelBytes(entry.encoder.file), modelBytes(entry.decoder.file));
  const ctSmall = cases().find((c) => c.name === 'ct_small');
  const info = engine.open(['ct_small.png'], [readFileSync(fixture(ctSmall.image))]);
  assert.deepEqual([info.kind, info.width, info.height], ['image', ctSmall.width, ctSmall.height]);
  const route = engine.route(null);
  assert.equal(route.modelId, 'litemedsam');
  assert.match(route.reason, /CT/);
  assert.equal(engine.encode(entry.id).cacheHit, false);
  assert.equal(engine.encode(entry.id).cacheHit, true, 'the second encode of an image must hit the cache');
  const expected = pngLabels(readFileSync(fixture('golden/ct_small_segs.png'))).labels;
  // The engine paints the labels, box i as label i + 1: the app's own path.
  const labels = engine.segmentBoxes(entry.id, Float64Array.from(ctSmall.boxes.flat()));
  assert.equal(labels.length, info.width * info.height);
  for (let label = 1; label <= ctSmall.boxes.length; label++) {
    assert.ok(iou(labels, expected, label) >= 0.99, `label ${label}: IoU ${iou(labels, expected, label)}`);
  }
  const png = pngLabels(Buffer.from(engine.exportLabels(labels, 'ct_small_mask.png')));
  assert.deepEqual(Array.from(png.labels), Array.from(labels));
});

test('bad input from JavaScript is an Error with a clear message', () => {
  assert.throws(() => new Engine('{ not json'), /manifest/);
  assert.throws(() => new Engine('{"version": 1, "models": []}'), /no models/);
  const engine = new Engine(manifestText);
  assert.throws(() => engine.encode('litemedsam'), /not loaded/);
  assert.throws(() => engine.segmentBoxes('litemedsam', Float64Array.of(0, 0, 5, 5)), /not loaded/);
  const opened = (name, bytes) => engine.open([name], [new Uint8Array(bytes)]);
  assert.throws(() => opened('x.png', [1, 2, 3]), { name: 'DecodeError', message: /cannot read image/ });
  assert.throws(() => opened('x.png', []), /cannot read image/);
  const png = readFileSync(fixture('images/ct_lung.png'));
  assert.throws(() => opened('x.png', png.subarray(0, png.length >> 1)), /cannot read image/);
  assert.throws(() => engine.loadModel('litemedsam', new Uint8Array(10), new Uint8Array(10)), { name: 'ModelError', message: /truncated or replaced/ });
  assert.throws(() => engine.loadModel('nope', new Uint8Array(1), new Uint8Array(1)), /no model 'nope'/);
  assert.throws(() => engine.routeFile('x.png', null, 'nope'), /no model 'nope'/);

  const entry = manifest.models[0];
  engine.loadModel(entry.id, modelBytes(entry.encoder.file), modelBytes(entry.decoder.file));
  assert.throws(() => engine.segmentBoxes('litemedsam', Float64Array.of(0, 0, 5, 5)), /open an image/);
  opened('mr_small.png', readFileSync(fixture('images/mr_small.png')));
  const one = (...box) => engine.segmentBoxes('litemedsam', Float64Array.of(...box));
  assert.throws(() => one(100, 100, 120, 120), { name: 'InvalidInputError', message: /outside/ });
  assert.throws(() => one(40, 10, 20, 30), /inverted/);
  assert.throws(() => one(NaN, 0, 5, 5), /finite/);
  assert.throws(() => one(0, 0, Infinity, 5), /finite/);
  assert.throws(() => one(0, 0, 5), /4 finite numbers/);
  assert.throws(() => engine.exportLabels(new Uint16Array(4), 'm.png'), /labels for a 64x64 image/);
  // 64 x 8192 x 8192 bytes wrap to 0 in 32-bit arithmetic: refused before any slice is read.
  assert.throws(
    () => engine.segmentGreyVolume('litemedsam', [64, 8192, 8192], new Uint8Array(0), Float64Array.of(0, 0, 0, 5, 5, 5)),
    { name: 'InvalidInputError', message: /does not match its size/ },
  );
  // Hostile files: sizes from their headers are refused before anything of that size exists
  // (a 1000 x 1024 x 1024 NPZ used to panic the module with "capacity overflow").
  const lying = writeNpz({
    imgs: { shape: [1000, 1024, 1024], data: new Uint8Array(16) },
    boxes: { shape: [1, 6], data: new Float64Array(6) },
  });
  assert.throws(() => opened('lying.npz', lying), { name: 'InvalidInputError', message: /too large \(1000x1024x1024\).*command line opens larger files/ });
  const dicom = Buffer.from(readFileSync(fixture('medical/CT_small.dcm')));
  dicom.writeUInt32LE(0xfffffff0, dicom.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0])) + 8);
  assert.throws(() => opened('lying.dcm', dicom), { name: 'DecodeError', message: /\(7FE0,0010\) declares 4294967280 bytes/ });
  // After all that the engine still works.
  opened('mr_small.png', readFileSync(fixture('images/mr_small.png')));
  assert.equal(one(14, 10, 50, 54).length, 64 * 64);
});

test('a real MR volume propagates in 3D like the PyTorch reference inside wasm', async () => {
  const { readNpz } = await import('../../scripts/npz.mjs');
  const npz = readNpz(readFileSync(fixture('golden/3d_mr_brain.npz')));
  const [depth, height, width] = npz.imgs.shape;
  const engine = new Engine(manifestText);
  const entry = manifest.models[0];
  engine.loadModel(entry.id, modelBytes(entry.encoder.file), modelBytes(entry.decoder.file));
  const boxes = Float64Array.from(npz.boxes.data, Number);
  const steps = [];
  const segment = (shape, more) => engine.segmentGreyVolume(entry.id, shape, npz.imgs.data, ...more);
  const labels = segment([depth, height, width], [boxes, (done, total) => steps.push([done, total])]);
  const expected = npz.segs.data;
  let differing = 0;
  for (let i = 0; i < labels.length; i++) differing += labels[i] !== Number(expected[i]);
  assert.equal(differing, 0, `${differing} voxels differ from the PyTorch reference`);
  assert.deepEqual(steps.at(-1), [steps.length, steps.length]);
  // Returning false from the progress callback cancels; bad boxes are errors.
  assert.throws(() => segment([depth, height, width], [boxes, () => false]), { name: 'Cancelled', message: 'cancelled' });
  assert.throws(() => segment([depth, height, width], [Float64Array.of(1, 2, 3)]), /6 finite numbers/);
  assert.throws(() => segment([depth, height, width + 1], [boxes]), /does not match/);
  assert.throws(() => segment([depth, height], [boxes]), /\[depth, height, width\]/);
});

test('DICOM codecs decode inside wasm: RLE and big-endian give the uncompressed file pixels; JPEG 2000 and JPEG-LS are refused by name', () => {
  const engine = new Engine(manifestText);
  const open = (name) => {
    engine.open([name], [new Uint8Array(readFileSync(fixture(`medical/${name}`)))]);
    return engine.showSlice(0);
  };
  const plain = open('MR_small.dcm');
  for (const name of ['MR_small_RLE.dcm', 'MR_small_bigendian.dcm']) {
    assert.deepEqual(Array.from(open(name)), Array.from(plain), name);
  }
  assert.throws(() => open('MR_small_jpeg_ls_lossless.dcm'), /JPEG-LS/);
  assert.throws(() => open('MR_small_jp2klossless.dcm'), /JPEG 2000 pixels are decoded by the daftseg command line/);
  // JPEG baseline (YBR, 30 frames of ultrasound) decodes in wasm too.
  const us = engine.open(['examples_ybr_color.dcm'], [new Uint8Array(readFileSync(fixture('medical/examples_ybr_color.dcm')))]);
  assert.deepEqual([us.width, us.height, us.depth, us.channels, us.modality], [320, 240, 30, 3, 'US']);
  // Colour data are 8-bit display values: the identity window, and slices stay in colour for 2D.
  assert.equal(us.window.label, 'W255/L127.5');
  const frame = engine.showSlice(0);
  let coloured = 0;
  for (let p = 0; p < frame.length; p += 4) coloured += frame[p] !== frame[p + 1];
  assert.ok(coloured > 1000, `only ${coloured} coloured pixels`);
  const info = engine.open(['CT_small.dcm'], [new Uint8Array(readFileSync(fixture('medical/CT_small.dcm')))]);
  assert.equal(info.modality, 'CT');
  assert.match(info.window.label, /soft tissue W400\/L40/);
  const lung = engine.setWindow({ kind: 'preset', name: 'lung' });
  assert.deepEqual([lung.level, lung.width], [-600, 1500]);
  assert.throws(() => engine.setWindow({ kind: 'manual', level: 0, width: -5 }), /window width/);
  assert.throws(() => engine.setWindow({ kind: 'sunny' }), /window/);
  assert.throws(() => engine.showSlice(1), /outside/);
  assert.throws(() => engine.open(['a.dcm'], [new Uint8Array(300)]), /DICOM/);
  assert.throws(() => engine.open(['a.dcm', 'b.dcm'], [new Uint8Array(3)]), /one name per file/);
  assert.throws(() => engine.open(['a.dcm'], ['not bytes']), /Uint8Array/);
  assert.throws(() => engine.exportLabels(new Uint16Array(3), 'x.nii.gz'), /labels for a/);
  assert.throws(() => engine.exportLabels(new Uint16Array(128 * 128), 'x.txt'), /\.nii\.gz/);
});

test('the router sends each modality to the model that won on held-out data, and says why', () => {
  const engine = new Engine(manifestText);
  const winners = manifest.models.filter((m) => m.role === 'modality');
  // The engine hands the manifest back whole: the held-out scores the model menu shows included.
  assert.deepEqual(engine.manifest(), manifest);
  assert.ok(manifest.models.length >= 4, 'the general model and at least three modality models');
  for (const model of manifest.models.filter((m) => m.role !== 'general')) {
    assert.ok(model.heldout?.all, `${model.id} has no held-out scores`);
    const won = model.heldout.all.modality.dsc > model.heldout.all.general.dsc;
    assert.equal(model.role, won ? 'modality' : 'candidate', `${model.id}: role must follow its held-out result`);
  }
  for (const model of winners) {
    const route = engine.routeFile(`2DBox_${model.modalities[0]}_x.npz`, null, null);
    assert.equal(route.modelId, model.id);
    assert.match(route.reason, /is fine-tuned for/);
  }
  for (const model of manifest.models.filter((m) => m.role === 'candidate')) {
    const route = engine.routeFile(`2DBox_${model.modalities[0]}_x.npz`, null, null);
    assert.equal(route.modelId, 'litemedsam');
    assert.match(route.reason, new RegExp(`'${model.id}'.*did not beat the general model`));
    assert.equal(engine.routeFile('x.png', null, model.id).modelId, model.id, 'the user can still choose it');
  }
});

test('a modality model loads as its patch over the shared decoder, and the content routes to it', () => {
  const engine = new Engine(manifestText);
  const general = manifest.models.find((m) => m.role === 'general');
  const zoo = manifest.models.find((m) => m.role === 'modality' && m.modalities.includes('Microscopy'));
  assert.ok(zoo.decoder_patch, 'the microscopy model ships as a patch');
  assert.equal(zoo.decoder.sha256, general.decoder.sha256, 'over the general decoder');
  const [encoder, decoder, patch] = [zoo.encoder, zoo.decoder, zoo.decoder_patch].map((f) => modelBytes(f.file));
  // Without its patch, or with a damaged one, an Error that names the model; the engine lives on.
  assert.throws(() => engine.loadModel(zoo.id, encoder, decoder), new RegExp(`${zoo.id}.*was not given`));
  const damaged = Uint8Array.from(patch);
  damaged[damaged.length - 100] ^= 0xff;
  assert.throws(() => engine.loadModel(zoo.id, encoder, decoder, damaged), /sha256/);
  engine.loadModel(general.id, encoder, decoder);
  // scan.png names no modality: the route waits for the content, then picks the microscopy model.
  const nuclei = cases().find((c) => c.name === 'microscopy_nuclei');
  engine.open(['scan.png'], [readFileSync(fixture(nuclei.image))]);
  const waiting = engine.route(null);
  assert.equal(waiting.needsContent, true);
  assert.equal(waiting.modelId, general.id);
  const routed = engine.routeByContent(null);
  assert.equal(routed.modelId, zoo.id);
  assert.match(routed.reason, /^modality Microscopy from the image content \(confidence 0\.\d\d\)/);
  assert.equal(engine.encoderRuns(), 1);
  engine.loadModel(zoo.id, encoder, decoder, patch);
  const labels = engine.segmentBoxes(zoo.id, Float64Array.of(410, 443, 441, 466));
  assert.equal(engine.encoderRuns(), 1, 'the modality model decodes from the general model\'s embedding');
  const area = labels.filter((v) => v === 1).length;
  assert.ok(area > 100 && area < 32 * 24, `nucleus mask of ${area} px`);
});

test('a volume reports its reading as it goes, and a cancelled open keeps the study open before', () => {
  const engine = new Engine(manifestText);
  const series = 'medical/ct_lung1_series';
  const names = readdirSync(fixture(series)).sort();
  const files = names.map((n) => new Uint8Array(readFileSync(fixture(`${series}/${n}`))));
  const steps = [];
  const info = engine.open(names, files, (done, total) => steps.push([done, total]));
  assert.equal(info.depth, 6);
  // Files parsed, then slices decoded: 2 x 6 steps, in order, each of the same total.
  assert.deepEqual(steps, Array.from({ length: 12 }, (_, i) => [i, 12]));
  const nifti = new Uint8Array(readFileSync(fixture('medical/standard.nii.gz')));
  const read = [];
  const small = engine.open(['standard.nii.gz'], [nifti], (done, total) => read.push([done, total]));
  assert.ok(read.length > 0 && read.at(-1)[0] === read.at(-1)[1], JSON.stringify(read.at(-1)));
  assert.throws(() => engine.open(names, files, () => false), { name: 'Cancelled' });
  // The shown image is still the NIfTI's, not a 512x512 CT slice.
  assert.equal(engine.imageRgba().length, small.width * small.height * 4, 'the study open before stays open');
});
