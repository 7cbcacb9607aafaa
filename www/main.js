// The page's wiring. The worker (worker.js) owns the engine: the open study, its window and
// slice, the models and the cache, and does all the computing; the page asks it through the
// protocol's client (protocol.js) and shows the answers. The page's own state and its edits are
// in state.js, what is drawn in view.js, the canvas tools in tools.js, the volume bar in
// volume.js; this file opens files, exports, picks the model and keeps the status line.
import { EngineClient } from './protocol.js';
import { createState, openStudy, removeObject, undo as undoEdit, redo as redoEdit, begin2d, accept2d, currentMeasurements, setAppearance, openLabelObjects, addEdit, editsFor, algorithmOf, setLabels2d, addClick, clicksFor } from './state.js';
import { createView } from './view.js';
import { installTools } from './tools.js';
import { installVolumeControls, showVolumeBar } from './volume.js';
import { installStorage } from './storage.js';

const $ = (id) => document.getElementById(id);
const client = new EngineClient(new Worker('worker.js', { type: 'module' }));
const state = createState();
const view = createView(state, {
  onSelect(id) {
    state.selected = id;
    view.render();
  },
  onRemove: remove,
  onAppearance(id, changes) {
    setAppearance(state, id, changes);
    changed();
  },
});

// ---- status ----
function setStatus(text, kind = '') {
  $('status').textContent = text;
  $('status').className = kind;
}
function refreshStatus() {
  const ready = state.image && state.encoded && state.pending === 0;
  if (state.error) setStatus(`error: ${state.error}`, 'error');
  else if (ready) setStatus('ready');
  else if (state.pending > 0) setStatus('working…', 'busy');
  else setStatus(state.image ? 'loading…' : 'open an image to start', state.image ? 'busy' : '');
  // A volume's mask is a slice of its 3D result.
  $('export-mask').disabled = !ready || state.objects.length === 0 || (state.volume && !state.volume.labels);
  $('export-overlay').disabled = !ready || state.objects.length === 0;
  $('export-stats').disabled = !currentMeasurements(state);
  $('export-nifti').disabled = $('export-npz').disabled = !state.volume?.labels || state.pending > 0;
  $('export-seg').disabled = $('export-nifti').disabled || state.volume.info.format !== 'DICOM';
  $('segment-3d').disabled = !ready || !state.volume || state.objects.length === 0;
  for (const tool of ['fill-holes', 'keep-largest', 'clear-slice']) $(tool).disabled = !ready || state.selected === null;
  $('undo').disabled = state.undo.length === 0;
  $('redo').disabled = state.redo.length === 0;
}
function changed() {
  view.render();
  refreshStatus();
  storage.syncRanges();
}

// One request to the worker: counted while pending; its error (but a cancel) goes to the status
// line and is thrown on, so the caller stops.
async function call(name, args = {}, transfer = []) {
  state.error = null; // a new request: the last error has been seen
  state.pending += 1;
  refreshStatus();
  try {
    return await client.request(name, args, transfer);
  } catch (error) {
    if (error.name !== 'Cancelled') state.error = error.message;
    throw error;
  } finally {
    state.pending -= 1;
    $('progress').hidden = true;
    changed();
  }
}
// Run an action whose errors are already on the status line.
const attempt = (action) => action().catch(() => {});
client.on('progress', ({ stage, fraction }) => {
  $('progress').hidden = fraction === null;
  if (fraction !== null) $('progress').value = fraction;
  setStatus(fraction === null ? `${stage}…` : `${stage}: ${Math.round(100 * fraction)}%`, 'busy');
});
const storage = installStorage(state, client);
client.on('encoded', storage.show);
// Idle time stops at its first failure (its work was only ahead of need); say why.
client.on('idleError', ({ message }) => {
  console.warn(`encoding ahead stopped: ${message}`);
  $('slice-encoded').title = `encoding ahead stopped: ${message}`;
});
const bitmapOf = (rgba, width, height) => createImageBitmap(new ImageData(new Uint8ClampedArray(rgba.buffer), width, height));

// ---- segmentation of the shown image: every box in one request, the engine paints the labels
// (box k is label k, later boxes on top); a reply older than the latest request is dropped ----
async function segment2d() {
  const request = begin2d(state);
  changed();
  if (request.shown.length === 0 || !state.model) return;
  const boxes = request.shown.flatMap((o) => o.box);
  const clicks = clicksFor(state, request.shown);
  const { labels, ms, encoderRuns } = await call('segmentBoxes', { model: state.model, boxes, clicks });
  storage.refresh();
  if (!accept2d(state, request, labels)) return;
  // The manual edits over the model's labels; an image's objects are then measured (a
  // volume's once they are segmented in 3D).
  await applyEdits2d();
  $('timings').textContent = `${$('timings').textContent.split(' · ')[0]} · decode ${Math.round(ms)} ms`;
  // Clicks and box edits on an encoded image run the decoder only (the tests read this).
  $('timings').dataset.lastEncoderRuns = encoderRuns;
  $('timings').dataset.lastSegmentMs = Math.round(ms);
  changed();
}
// Measurements of `target.labels` (a label map or volume), kept in `target.measurements` for the
// object list and the CSV export. A request of its own: the status line stays as it is.
function measure(target) {
  const { labels } = target;
  const copy = labels.slice();
  client.request('measure', { labels: copy.buffer }, [copy.buffer]).then(
    (result) => {
      if (target.labels !== labels) return; // newer labels are on their way
      target.measurements = result;
      changed();
    },
    (error) => {
      state.error = `measuring: ${error.message}`;
      changed();
    },
  );
}
// Undo and redo: boxes that changed are segmented again; edits that changed are applied again
// over the model's labels (no model run).
function afterTravel(change) {
  if (change === 'boxes') attempt(segment2d);
  else if (change === 'edits') attempt(applyEdits);
}
const undo = () => afterTravel(undoEdit(state));
const redo = () => afterTravel(redoEdit(state));

// ---- manual edits: kept with their objects (state.js), applied by the engine over the model's
// labels, so they survive segmenting again and switching models ----
async function edited(model, edits) {
  if (edits.length === 0) return model;
  const copy = model.slice();
  const { width, height } = state.image;
  const { labels } = await call('applyEdits', { labels: copy.buffer, width, height, edits }, [copy.buffer]);
  return labels;
}
async function applyEdits2d() {
  const target = state.labels2d;
  if (!target?.model) return;
  const edits = editsFor(state, target.ids, state.volume ? target.z : null);
  const labels = await edited(target.model, edits);
  if (state.labels2d !== target) return; // segmented again meanwhile
  setLabels2d(target, labels);
  if (!state.volume) measure(target);
}
async function applyEdits3d() {
  const volume = state.volume;
  const model = volume?.model3d;
  if (!model) return;
  const labels = await edited(model, editsFor(state, state.objects.map((o) => o.id)));
  if (volume.model3d !== model) return;
  volume.labels = labels;
  volume.measurements = null;
  measure(volume);
}
async function applyEdits() {
  await applyEdits2d();
  await applyEdits3d();
  changed();
}
// A stroke or a tool on the selected object, on the shown slice: one undo step. Volumes edit
// their 3D result; before Segment 3D, the 2D labels of the slice the box was drawn on.
function editSelected(edit) {
  const object = state.objects.find((o) => o.id === state.selected);
  if (!object) {
    state.error = 'select an object first (click it in the list), then edit it';
    changed();
    return;
  }
  const z = state.volume ? state.volume.z : 0;
  const on2d = state.labels2d && (!state.volume || state.labels2d.z === z) && state.labels2d.ids.includes(object.id);
  if (!state.volume?.model3d && !on2d) {
    state.error = state.volume ? 'press Segment 3D first, or edit on the slice where the box was drawn' : 'the object has no mask yet';
    changed();
    return;
  }
  // Keep largest is 3D once there is a 3D result.
  const slice = edit.kind === 'keepLargest' && state.volume?.model3d ? null : z;
  state.error = null;
  addEdit(state, object.id, { ...edit, z: slice });
  attempt(applyEdits);
}
function setMode(mode) {
  state.mode = mode;
  for (const m of ['draw', 'edit', 'brush', 'eraser']) $(`mode-${m}`).classList.toggle('active', m === mode);
  view.canvas.classList.toggle('brush', mode === 'brush' || mode === 'eraser');
}
function remove(id) {
  removeObject(state, id);
  attempt(segment2d);
}

const volumeControls = installVolumeControls(state, { call, attempt, changed, bitmapOf, refreshStats: storage.refresh, applyEdits });
installTools(state, view, {
  onEdited: () => attempt(segment2d),
  onStroke: (kind, points) => editSelected({ kind, points, radius: state.brush }),
  onKeyTool: (kind) => editSelected({ kind }),
  // A click (no drag) in Draw mode refines the selected object: on it, or off it with Alt or
  // the right button.
  onClick(x, y, positive) {
    if (state.selected === null || !addClick(state, state.selected, { x, y, positive })) return false;
    attempt(segment2d);
    return true;
  },
  setMode,
  onWindowDragged: volumeControls.setManualWindow,
  showSlice: volumeControls.showSlice,
  undo,
  redo,
  remove,
});

// ---- files: an image, or a volume (one file, or the DICOM files of a series); the engine
// tells which ----
async function openFiles(list) {
  const files = [...list].filter((f) => f.size > 0 && !f.name.startsWith('.') && f.name !== 'DICOMDIR');
  if (files.length === 0) return;
  await started; // a file chosen while the engine starts waits for it
  // A clinical-size study is hundreds of MiB in thousands of files: the bar shows the reading,
  // and Cancel stops it (while the files are read, and while the engine decodes them when the
  // page is isolated) with the study open before still open.
  const cancel = self.crossOriginIsolated ? new Int32Array(new SharedArrayBuffer(4)) : null;
  let cancelled = false;
  $('cancel-open').hidden = false;
  $('cancel-open').onclick = () => {
    cancelled = true;
    if (cancel) Atomics.store(cancel, 0, 1);
  };
  let opened;
  try {
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const buffers = [];
    let read = 0;
    for (const file of files) {
      if (cancelled) throw Object.assign(new Error('opening cancelled'), { name: 'Cancelled' });
      buffers.push(await file.arrayBuffer());
      read += file.size;
      $('progress').hidden = false;
      $('progress').value = read / total;
      setStatus(`reading ${files.length > 1 ? `${buffers.length} of ${files.length} files, ` : ''}${Math.round(read / 2 ** 20)} of ${Math.round(total / 2 ** 20)} MiB`, 'busy');
    }
    opened = await call('open', { names: files.map((f) => f.name), buffers, cancel: cancel?.buffer }, buffers);
  } catch (error) {
    if (error.name !== 'Cancelled') throw error;
    $('progress').hidden = true;
    $('timings').textContent = 'opening cancelled';
    refreshStatus();
    return;
  } finally {
    $('cancel-open').hidden = true;
  }
  const { info, rgba } = opened;
  const name = files.length > 1 ? `${files.length} DICOM files` : files[0].name;
  const image = { name: name.replace(/\.nii\.gz$/i, '.nii'), width: info.width, height: info.height, bitmap: await bitmapOf(rgba, info.width, info.height) };
  openStudy(state, info, image);
  showVolumeBar(state, info);
  view.stage.classList.add('has-image');
  view.fit();
  changed();
  await encodeStudy();
}
// Route the study (or take the user's model), load the model, encode the shown image; then the
// boxes on it get their masks.
async function encodeStudy() {
  state.encoded = false;
  const { route, modelLoad, encodeMs, cacheHit, stats } = await call('encode', { model: state.override });
  state.model = route.modelId;
  state.modality = route.modality ?? state.modality;
  storage.show(stats);
  $('model-name').textContent = `${route.modelId}: ${route.reason}`;
  const loaded = modelLoad ? `model ${modelLoad.id} ${modelLoad.fromCache ? 'from the offline cache' : 'downloaded'}, ready in ${Math.round(modelLoad.ms)} ms; ` : '';
  $('timings').textContent = `${loaded}encode ${Math.round(encodeMs)} ms${cacheHit ? ' (cached)' : ''}`;
  state.encoded = true;
  await segment2d();
}
// ---- sample studies (www/samples.json: files that ship with the app, licences that allow it) ----
async function showSamples() {
  const response = await fetch('samples.json');
  if (!response.ok) return;
  const { samples } = await response.json();
  for (const sample of samples) {
    const button = document.createElement('button');
    button.textContent = sample.name;
    button.title = `${sample.description} (${sample.licence})`;
    button.dataset.sample = sample.id;
    button.onclick = () =>
      attempt(async () => {
        const files = await Promise.all(
          sample.files.map(async ({ url }) => {
            const file = await fetch(url);
            if (!file.ok) throw new Error(`sample ${url}: HTTP ${file.status}`);
            return new File([await file.blob()], url.split('/').pop());
          }),
        );
        await openFiles(files);
      });
    $('samples').append(button);
  }
}
showSamples().catch(() => {});

// ---- a label file over the open study: its objects replace the drawn ones (one undo step) ----
async function openLabels(file) {
  if (!state.image) throw new Error('open the image or volume the labels belong to first');
  const buffer = await file.arrayBuffer();
  const { labels, objects } = await call('openLabels', { name: file.name, buffer }, [buffer]);
  const created = openLabelObjects(state, file.name, objects);
  if (state.volume) {
    state.volume.labels = state.volume.model3d = labels;
    state.volume.measurements = null;
    state.volume.labelsWindow = 'opened from a file';
    measure(state.volume);
  } else {
    const request = begin2d(state);
    accept2d(state, { ...request, shown: created }, labels);
    measure(state.labels2d);
  }
  $('timings').textContent = `labels: ${objects.length} objects from ${file.name}`;
  changed();
}
$('open-labels').addEventListener('change', (event) => {
  const [file] = event.target.files;
  if (file) attempt(() => openLabels(file).catch((error) => {
    state.error = error.message;
    changed();
    throw error;
  }));
  event.target.value = '';
});

for (const input of ['open-file', 'open-folder']) {
  $(input).addEventListener('change', (event) => {
    attempt(() => openFiles(event.target.files));
    event.target.value = '';
  });
}
// A dropped folder: every file in it (and its subfolders).
async function droppedFiles(items) {
  const files = [];
  const walk = async (entry) => {
    if (entry.isFile) files.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
    else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child);
      }
    }
  };
  for (const entry of [...items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean)) await walk(entry);
  return files;
}
view.stage.addEventListener('dragover', (event) => {
  event.preventDefault();
  view.stage.classList.add('dragging');
});
view.stage.addEventListener('dragleave', () => view.stage.classList.remove('dragging'));
view.stage.addEventListener('drop', (event) => {
  event.preventDefault();
  view.stage.classList.remove('dragging');
  const items = event.dataTransfer.items;
  if (items && [...items].some((item) => item.webkitGetAsEntry?.()?.isDirectory)) attempt(() => droppedFiles(items).then(openFiles));
  else attempt(() => openFiles(event.dataTransfer.files));
});

// ---- export: the engine writes every file format ----
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
const baseName = () => state.image.name.replace(/\.[^.]+$/, '');
async function exportLabels(labels, suffix, slice) {
  const name = `${baseName()}${suffix}`;
  const copy = labels.slice();
  const { bytes } = await call('exportLabels', { labels: copy.buffer, name, slice }, [copy.buffer]);
  download(new Blob([bytes]), name);
}
$('export-mask').onclick = () => {
  if (state.volume?.labels) attempt(() => exportLabels(state.volume.labels, `_slice${state.volume.z}_mask.png`, state.volume.z));
  else if (state.labels2d) attempt(() => exportLabels(state.labels2d.labels, '_mask.png'));
};
$('export-stats').onclick = () => {
  const measured = currentMeasurements(state);
  if (measured) download(new Blob([measured.csv], { type: 'text/csv' }), `${baseName()}_stats.csv`);
};
$('export-overlay').onclick = () => view.overlayPicture().toBlob((blob) => download(blob, `${baseName()}_overlay.png`), 'image/png');
$('export-nifti').onclick = () => attempt(() => exportLabels(state.volume.labels, '_seg.nii.gz'));
// DICOM SEG: object k is label k + 1, with its name, colour and how it was made.
$('export-seg').onclick = () => attempt(async () => {
  const segments = state.objects.map((o, i) => ({
    label: i + 1,
    name: o.name,
    colour: [1, 3, 5].map((at) => parseInt(o.color.slice(at, at + 2), 16)),
    algorithm: algorithmOf(o),
  }));
  const copy = state.volume.labels.slice();
  const { bytes } = await call('exportSeg', {
    labels: copy.buffer, segments, algorithmName: `daftseg ${state.model ?? ''}`.trim(), createdUnixS: Math.floor(Date.now() / 1000),
  }, [copy.buffer]);
  download(new Blob([bytes], { type: 'application/dicom' }), `${baseName()}_seg.dcm`);
});
$('export-npz').onclick = () => attempt(() => exportLabels(state.volume.labels, '_seg.npz'));

// ---- controls ----
for (const mode of ['draw', 'edit', 'brush', 'eraser']) $(`mode-${mode}`).onclick = () => setMode(mode);
for (const [button, kind] of [['fill-holes', 'fillHoles'], ['keep-largest', 'keepLargest'], ['clear-slice', 'clearSlice']]) {
  $(button).onclick = () => editSelected({ kind });
}
// The brush radius in pixels, and in mm where the study has a pixel size.
function showBrushSize() {
  state.brush = Number($('brush-size').value);
  const mm = state.volume ? ` (${(state.brush * state.volume.info.spacing[0]).toFixed(1)} mm)` : '';
  $('brush-size-label').textContent = `${state.brush} px${mm}`;
  view.draw();
}
$('brush-size').oninput = showBrushSize;
showBrushSize();
$('undo').onclick = undo;
$('redo').onclick = redo;
$('fit').onclick = view.fit;
$('opacity').oninput = view.draw;
$('display-mode').onchange = (event) => {
  state.display = event.target.value;
  view.render();
};
$('model-select').onchange = (event) => {
  state.override = event.target.value;
  if (state.image) attempt(encodeStudy);
};
// The stage changes size with the window, and with the header and volume bar as their text
// wraps; the canvas (absolutely positioned, so it never sizes the stage) follows.
new ResizeObserver(() => {
  view.resizeCanvas();
  if (state.image) view.fit();
  else view.draw();
}).observe(view.stage);

// The thread pool is sized once, when the worker starts: a change applies on the next load.
const THREADS_SETTING = 'daftseg.threads';
const threadsWanted = Number(localStorage.getItem(THREADS_SETTING)) || null;
$('threads-setting').value = threadsWanted ?? '';
$('threads-setting').placeholder = 'auto';
$('threads-setting').onchange = () => {
  const value = Math.trunc(Number($('threads-setting').value));
  if (value >= 1) localStorage.setItem(THREADS_SETTING, String(value));
  else localStorage.removeItem(THREADS_SETTING);
  $('threads-note').textContent = 'applies when the page is reloaded';
};

if ('serviceWorker' in navigator) navigator.serviceWorker.register('sw.js').catch(() => {});
// Start the engine: which build runs the model (the threaded one whenever the browser allows
// it), and the model menu with the zoo's measured quality, so a choice is an informed one.
async function start() {
  const { threads, singleThreadReason, manifest, stats } = await call('init', { threads: threadsWanted, ...storage.initArgs() });
  state.manifest = manifest;
  storage.show(stats);
  $('engine').textContent = threads > 1 ? `threads: ${threads}` : 'single-thread';
  $('engine').title = singleThreadReason ? `single-thread: ${singleThreadReason}` : `the model runs on ${threads} threads`;
  for (const model of manifest.models) {
    const option = document.createElement('option');
    option.value = model.id;
    const heldout = model.heldout?.all;
    const score = heldout ? ` (held-out DSC ${heldout.modality.dsc} vs general ${heldout.general.dsc})` : '';
    option.textContent = `${model.name}${model.role === 'candidate' ? ', explicit choice only' : ''}`;
    option.title = `${model.role}: ${model.modalities.join(', ')}${score}`;
    $('model-select').append(option);
  }
  // The general model downloads while the user picks a file (most files need it first).
  const general = manifest.models.find((m) => m.role === 'general');
  if (general) client.request('prefetch', { model: general.id }).catch(() => {});
}
view.resizeCanvas();
refreshStatus();
// Settled when the engine has started (or failed to: the error is on the status line, and a
// request then says the engine did not start).
const started = attempt(start);
