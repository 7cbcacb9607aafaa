// UI and messages only: the worker (worker.js) owns the model and does all the computing.
const $ = (id) => document.getElementById(id);
const canvas = $('viewer');
const ctx = canvas.getContext('2d');
const stage = $('stage');
const worker = new Worker('worker.js', { type: 'module' });

const COLORS = ['#ff4d4d', '#4dd2ff', '#ffd24d', '#7dff4d', '#d24dff', '#ff9f4d', '#4dffb8', '#ff4da6', '#4d7dff', '#c8ff4d'];

const state = {
  image: null, // { name, width, height, bitmap }
  encoded: false,
  objects: [], // { id, color, box: [x0, y0, x1, y1], mask: Uint8Array | null }
  selected: null,
  undo: [],
  redo: [],
  pending: 0, // jobs sent to the worker and not finished
  error: null,
  view: { scale: 1, x: 0, y: 0 },
  mode: 'draw',
  nextId: 1,
  // An open volume: { info, z, labels (3D result, Uint16Array) | null, labelsWindow, window, windowLabel }.
  volume: null,
};
const overlay = document.createElement('canvas');
let drag = null;

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
  $('export-mask').disabled = $('export-overlay').disabled = !ready || state.objects.length === 0;
  $('export-nifti').disabled = $('export-npz').disabled = !state.volume?.labels || state.pending > 0;
  $('segment-3d').disabled = !ready || !state.volume || state.objects.length === 0;
  $('undo').disabled = state.undo.length === 0;
  $('redo').disabled = state.redo.length === 0;
}
function send(message, transfer = []) {
  state.error = null; // a new job: the last error has been seen
  state.pending += 1;
  refreshStatus();
  worker.postMessage(message, transfer);
}

// ---- view: image pixels <-> canvas pixels by one scale and one offset ----
function resizeCanvas() {
  const rect = stage.getBoundingClientRect();
  canvas.width = Math.max(200, Math.floor(rect.width));
  canvas.height = Math.max(200, Math.floor(rect.height));
}
function fit() {
  if (!state.image) return;
  const { width, height } = state.image;
  const scale = Math.min(canvas.width / width, canvas.height / height);
  state.view = { scale, x: (canvas.width - width * scale) / 2, y: (canvas.height - height * scale) / 2 };
  draw();
}
const toImage = (cx, cy) => [(cx - state.view.x) / state.view.scale, (cy - state.view.y) / state.view.scale];
const toCanvas = (ix, iy) => [ix * state.view.scale + state.view.x, iy * state.view.scale + state.view.y];
function eventPoint(event) {
  const rect = canvas.getBoundingClientRect();
  return [(event.clientX - rect.left) * (canvas.width / rect.width), (event.clientY - rect.top) * (canvas.height / rect.height)];
}

// ---- drawing ----
function renderOverlay() {
  if (!state.image) return;
  const { width, height } = state.image;
  overlay.width = width;
  overlay.height = height;
  const octx = overlay.getContext('2d');
  const data = octx.createImageData(width, height);
  const rgb = (color) => [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
  const paint = (p, [r, g, b]) => {
    data.data[4 * p] = r;
    data.data[4 * p + 1] = g;
    data.data[4 * p + 2] = b;
    data.data[4 * p + 3] = 255;
  };
  const volume = state.volume;
  if (volume?.labels) {
    // The 3D result on the shown slice: label i is object i's colour.
    const plane = width * height;
    const slice = volume.labels.subarray(volume.z * plane, (volume.z + 1) * plane);
    const colors = state.objects.map((o) => rgb(o.color));
    for (let p = 0; p < plane; p++) if (slice[p]) paint(p, colors[slice[p] - 1] ?? [255, 255, 255]);
  } else {
    for (const object of state.objects) {
      if (!object.mask || (volume && object.slice !== volume.z)) continue;
      const color = rgb(object.color);
      for (let p = 0; p < object.mask.length; p++) if (object.mask[p]) paint(p, color);
    }
  }
  octx.putImageData(data, 0, 0);
}
function draw() {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.image) return;
  const { scale, x, y } = state.view;
  ctx.imageSmoothingEnabled = scale < 1;
  ctx.setTransform(scale, 0, 0, scale, x, y);
  ctx.drawImage(state.image.bitmap, 0, 0);
  ctx.globalAlpha = Number($('opacity').value);
  ctx.drawImage(overlay, 0, 0);
  ctx.globalAlpha = 1;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  const shown = state.objects.filter((o) => !state.volume || (o.z0 <= state.volume.z && state.volume.z <= o.z1));
  const boxes = shown.map((o) => ({ box: o.box, color: o.color, selected: o.id === state.selected }));
  if (drag && drag.kind === 'new') boxes.push({ box: normalised(drag.box), color: '#ffffff', selected: true });
  for (const { box, color, selected } of boxes) {
    const [x0, y0] = toCanvas(box[0], box[1]);
    const [x1, y1] = toCanvas(box[2] + 1, box[3] + 1);
    ctx.strokeStyle = color;
    ctx.lineWidth = selected ? 2.5 : 1.5;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  }
}
function renderList() {
  const list = $('object-list');
  list.replaceChildren();
  state.objects.forEach((object, i) => {
    const item = document.createElement('li');
    item.dataset.objectId = object.id;
    item.dataset.mask = object.mask ? '1' : '0';
    item.className = object.id === state.selected ? 'selected' : '';
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = object.color;
    const label = document.createElement('span');
    const area = object.mask ? object.mask.reduce((s, v) => s + v, 0) : 0;
    const range = state.volume ? ` slices ${object.z0}–${object.z1},` : '';
    let size = object.mask ? `${area} px` : 'segmenting…';
    if (state.volume && !object.mask && object.slice === undefined) size = 'no 2D preview';
    if (state.volume?.labels) size = `${state.volume.labels.reduce((n, v) => n + (v === i + 1), 0)} voxels in 3D`;
    label.textContent = `label ${i + 1}:${range} ${size}`;
    item.dataset.z0 = object.z0 ?? '';
    item.dataset.z1 = object.z1 ?? '';
    const remove = document.createElement('button');
    remove.textContent = '✕';
    remove.title = 'Delete this object';
    remove.onclick = (event) => {
      event.stopPropagation();
      removeObject(object.id);
    };
    item.append(swatch, label, remove);
    item.onclick = () => {
      state.selected = object.id;
      renderList();
      draw();
    };
    list.append(item);
  });
}
function changed() {
  renderOverlay();
  renderList();
  draw();
  refreshStatus();
}

// ---- objects, undo/redo ----
const snapshot = () => state.objects.map((o) => ({ ...o }));
function remember() {
  state.undo.push(snapshot());
  state.redo = [];
  if (state.volume) state.volume.labels = null; // boxes changed: the 3D result is out of date
}
function restore(objects) {
  state.objects = objects;
  if (state.volume) state.volume.labels = null;
  for (const object of state.objects) if (!object.mask && (!state.volume || object.slice === state.volume.z)) segment(object);
  changed();
}
function undo() {
  if (!state.undo.length) return;
  state.redo.push(snapshot());
  restore(state.undo.pop());
}
function redo() {
  if (!state.redo.length) return;
  state.undo.push(snapshot());
  restore(state.redo.pop());
}
function removeObject(id) {
  remember();
  state.objects = state.objects.filter((o) => o.id !== id);
  if (state.selected === id) state.selected = null;
  changed();
}
function segment(object) {
  if (state.volume) object.slice = state.volume.z; // a 2D preview on the shown slice
  send({ type: 'segment', objectId: object.id, box: object.box });
}
function normalised([x0, y0, x1, y1]) {
  return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
}
function clampBox(box) {
  const { width, height } = state.image;
  const [x0, y0, x1, y1] = normalised(box);
  return [Math.max(0, x0), Math.max(0, y0), Math.min(width - 1, x1), Math.min(height - 1, y1)];
}

// ---- pointer: draw a new box, or move / resize one (Edit), pan with right/middle button ----
function hit(point) {
  const [ix, iy] = toImage(...point);
  const tolerance = 8 / state.view.scale;
  for (const object of [...state.objects].reverse()) {
    const [x0, y0, x1, y1] = object.box;
    const corners = [[x0, y0], [x1, y0], [x0, y1], [x1, y1]];
    const corner = corners.findIndex(([cx, cy]) => Math.abs(cx - ix) < tolerance && Math.abs(cy - iy) < tolerance);
    if (corner >= 0) return { object, corner };
    if (ix >= x0 && ix <= x1 && iy >= y0 && iy <= y1) return { object, corner: -1 };
  }
  return null;
}
canvas.addEventListener('pointerdown', (event) => {
  if (!state.image) return;
  canvas.setPointerCapture(event.pointerId);
  const point = eventPoint(event);
  if (event.button === 1 || event.button === 2) {
    drag = { kind: 'pan', start: point, view: { ...state.view } };
    return;
  }
  if (event.shiftKey && state.volume) {
    drag = { kind: 'window', start: point, width: Number($('window-width').value), level: Number($('window-level').value) };
    return;
  }
  const [ix, iy] = toImage(...point).map(Math.floor);
  const target = state.mode === 'edit' ? hit(point) : null;
  if (target) {
    state.selected = target.object.id;
    drag = { kind: target.corner >= 0 ? 'resize' : 'move', object: target.object, corner: target.corner, start: [ix, iy], box: [...target.object.box], before: snapshot() };
  } else {
    drag = { kind: 'new', box: [ix, iy, ix, iy] };
  }
  draw();
});
canvas.addEventListener('pointermove', (event) => {
  if (!drag) return;
  const point = eventPoint(event);
  if (drag.kind === 'pan') {
    state.view.x = drag.view.x + point[0] - drag.start[0];
    state.view.y = drag.view.y + point[1] - drag.start[1];
  } else if (drag.kind === 'window') {
    // Right: wider; down: higher level; one canvas pixel moves by 1/256 of the window.
    const step = Math.max(drag.width, 1) / 256;
    $('window-width').value = Math.max(1, drag.width + (point[0] - drag.start[0]) * step).toFixed(1);
    $('window-level').value = (drag.level + (point[1] - drag.start[1]) * step).toFixed(1);
    return;
  } else {
    const [ix, iy] = toImage(...point).map(Math.floor);
    if (drag.kind === 'new') {
      drag.box[2] = ix;
      drag.box[3] = iy;
    } else if (drag.kind === 'move') {
      const [dx, dy] = [ix - drag.start[0], iy - drag.start[1]];
      drag.object.box = clampBox([drag.box[0] + dx, drag.box[1] + dy, drag.box[2] + dx, drag.box[3] + dy]);
    } else {
      const box = [...drag.box];
      box[drag.corner % 2 === 0 ? 0 : 2] = ix;
      box[drag.corner < 2 ? 1 : 3] = iy;
      drag.object.box = clampBox(box);
    }
  }
  draw();
});
canvas.addEventListener('pointerup', () => {
  if (!drag) return;
  const done = drag;
  drag = null;
  if (done.kind === 'window') {
    setManualWindow();
    return;
  }
  if (done.kind === 'new') {
    const box = clampBox(done.box);
    if (box[2] - box[0] >= 2 && box[3] - box[1] >= 2) {
      remember();
      const z = state.volume ? state.volume.z : undefined;
      const object = { id: state.nextId, color: COLORS[(state.nextId - 1) % COLORS.length], box, mask: null, z0: z, z1: z };
      state.nextId += 1;
      state.objects.push(object);
      state.selected = object.id;
      segment(object);
    }
  } else if (done.kind === 'move' || done.kind === 'resize') {
    if (done.object.box.join() !== done.box.join()) {
      state.undo.push(done.before);
      state.redo = [];
      done.object.mask = null;
      segment(done.object);
    }
  }
  changed();
});
canvas.addEventListener('contextmenu', (event) => event.preventDefault());
canvas.addEventListener('wheel', (event) => {
  if (!state.image) return;
  event.preventDefault();
  if (state.volume && !event.ctrlKey) {
    showSlice(state.volume.z + Math.sign(event.deltaY));
    return;
  }
  const [cx, cy] = eventPoint(event);
  const factor = Math.exp(-event.deltaY * 0.0015);
  const [ix, iy] = toImage(cx, cy);
  state.view.scale *= factor;
  state.view.x = cx - ix * state.view.scale;
  state.view.y = cy - iy * state.view.scale;
  draw();
}, { passive: false });

// ---- files: an image, or a volume (one file, or the DICOM files of a series) ----
const IMAGE_FILE = /\.(png|jpe?g|bmp|tiff?)$/i;
async function openFiles(list) {
  const files = [...list].filter((f) => f.size > 0 && !f.name.startsWith('.') && f.name !== 'DICOMDIR');
  if (files.length === 0) return;
  if (files.length === 1 && IMAGE_FILE.test(files[0].name)) {
    const bytes = await files[0].arrayBuffer();
    send({ type: 'open', name: files[0].name, bytes }, [bytes]);
    return;
  }
  const buffers = await Promise.all(files.map((f) => f.arrayBuffer()));
  send({ type: 'openVolume', names: files.map((f) => f.name), buffers }, buffers);
}
for (const input of ['open-file', 'open-folder']) {
  $(input).addEventListener('change', (event) => {
    openFiles(event.target.files);
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
stage.addEventListener('dragover', (event) => {
  event.preventDefault();
  stage.classList.add('dragging');
});
stage.addEventListener('dragleave', () => stage.classList.remove('dragging'));
stage.addEventListener('drop', (event) => {
  event.preventDefault();
  stage.classList.remove('dragging');
  const items = event.dataTransfer.items;
  if (items && [...items].some((item) => item.webkitGetAsEntry?.()?.isDirectory)) droppedFiles(items).then(openFiles);
  else openFiles(event.dataTransfer.files);
});

// ---- export ----
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
const baseName = () => state.image.name.replace(/\.[^.]+$/, '');
$('export-mask').onclick = () => {
  const { width, height } = state.image;
  if (state.volume?.labels) {
    exportVolume(`_slice${state.volume.z}_mask.png`, state.volume.z);
    return;
  }
  const labels = new Uint16Array(width * height);
  state.objects.forEach((object, i) => {
    if (!object.mask) return;
    for (let p = 0; p < object.mask.length; p++) if (object.mask[p]) labels[p] = i + 1;
  });
  send({ type: 'exportMask', width, height, labels: labels.buffer }, [labels.buffer]);
};
$('export-overlay').onclick = () => {
  const out = document.createElement('canvas');
  out.width = state.image.width;
  out.height = state.image.height;
  const octx = out.getContext('2d');
  octx.drawImage(state.image.bitmap, 0, 0);
  octx.globalAlpha = Number($('opacity').value);
  octx.drawImage(overlay, 0, 0);
  out.toBlob((blob) => download(blob, `${baseName()}_overlay.png`), 'image/png');
};

// ---- volumes: slices, window, z-ranges, 3D ----
let sliceWanted = null; // the slider moves faster than slices arrive: keep only the latest
let sliceInFlight = false;
function showSlice(z) {
  if (!state.volume) return;
  const clamped = Math.max(0, Math.min(state.volume.info.depth - 1, z));
  $('slice').value = clamped;
  if (sliceInFlight) {
    sliceWanted = clamped;
    return;
  }
  sliceInFlight = true;
  send({ type: 'slice', z: clamped });
}
function showWindow(window, label) {
  state.volume.window = window;
  state.volume.windowLabel = label;
  $('window-preset').value = window.kind === 'preset' ? window.name : window.kind;
  $('window-label').textContent = label;
}
function requestWindow(window) {
  send({ type: 'setWindow', window, z: state.volume.z });
}
function setManualWindow() {
  const width = Number($('window-width').value);
  const level = Number($('window-level').value);
  requestWindow({ kind: 'manual', width, level });
}
$('slice').oninput = (event) => showSlice(Number(event.target.value));
$('window-preset').onchange = (event) => {
  const value = event.target.value;
  if (value === 'manual') setManualWindow();
  else if (value === 'percentile') requestWindow({ kind: 'percentile', low: 0.5, high: 99.5 });
  else requestWindow({ kind: 'preset', name: value });
};
$('window-width').onchange = setManualWindow;
$('window-level').onchange = setManualWindow;
function setRangeEnd(end) {
  const object = state.objects.find((o) => o.id === state.selected);
  if (!object || !state.volume) return;
  remember();
  const z = state.volume.z;
  if (end === 'top') object.z1 = z;
  else object.z0 = z;
  if (object.z0 > object.z1) [object.z0, object.z1] = [object.z1, object.z0];
  changed();
}
$('z-top').onclick = () => setRangeEnd('top');
$('z-bottom').onclick = () => setRangeEnd('bottom');
let cancel3d = null;
$('segment-3d').onclick = () => {
  const boxes = state.objects.flatMap((o) => [o.box[0], o.box[1], o.z0, o.box[2], o.box[3], o.z1]);
  // Cancel needs memory shared with the worker (the page is cross-origin isolated).
  cancel3d = self.crossOriginIsolated ? new Int32Array(new SharedArrayBuffer(4)) : null;
  $('cancel-3d').hidden = !cancel3d;
  send({ type: 'segment3d', boxes, cancel: cancel3d ? cancel3d.buffer : new ArrayBuffer(4), window: state.volume.windowLabel });
};
$('cancel-3d').onclick = () => {
  if (cancel3d) Atomics.store(cancel3d, 0, 1);
};
function exportVolume(suffix, slice) {
  const labels = state.volume.labels.slice();
  send({ type: 'exportVolume', labels: labels.buffer, name: `${baseName()}${suffix}`, slice }, [labels.buffer]);
}
$('export-nifti').onclick = () => exportVolume('_seg.nii.gz');
$('export-npz').onclick = () => exportVolume('_seg.npz');

// ---- controls ----
for (const mode of ['draw', 'edit']) {
  $(`mode-${mode}`).onclick = () => {
    state.mode = mode;
    $('mode-draw').classList.toggle('active', mode === 'draw');
    $('mode-edit').classList.toggle('active', mode === 'edit');
  };
}
$('undo').onclick = undo;
$('redo').onclick = redo;
$('fit').onclick = fit;
$('opacity').oninput = draw;
$('model-select').onchange = (event) => {
  state.encoded = false;
  for (const object of state.objects) object.mask = null;
  send({ type: 'setModel', model: event.target.value });
  for (const object of state.objects) segment(object);
  changed();
};
document.addEventListener('keydown', (event) => {
  const key = event.key.toLowerCase();
  if ((event.ctrlKey || event.metaKey) && key === 'z') {
    event.preventDefault();
    if (event.shiftKey) redo();
    else undo();
  } else if ((event.ctrlKey || event.metaKey) && key === 'y') {
    event.preventDefault();
    redo();
  } else if ((key === 'delete' || key === 'backspace') && state.selected !== null && event.target === document.body) {
    removeObject(state.selected);
  }
});
// The stage changes size with the window, and with the header and volume bar as their text
// wraps; the canvas (absolutely positioned, so it never sizes the stage) follows.
new ResizeObserver(() => {
  resizeCanvas();
  if (state.image) fit();
  else draw();
}).observe(stage);

// ---- messages from the worker ----
worker.onmessage = async ({ data }) => {
  switch (data.type) {
    case 'engine':
      // Which build runs the model: the threaded one whenever the browser allows it.
      $('engine').textContent = data.threads > 1 ? `threads: ${data.threads}` : 'single-thread';
      $('engine').title = data.singleThreadReason ? `single-thread: ${data.singleThreadReason}` : `the model runs on ${data.threads} threads`;
      break;
    case 'manifest':
      for (const model of data.manifest.models) {
        const option = document.createElement('option');
        option.value = model.id;
        // The zoo's measured quality, so a choice is an informed one.
        const heldout = model.heldout?.all;
        const score = heldout ? ` (held-out DSC ${heldout.modality.dsc} vs general ${heldout.general.dsc})` : '';
        option.textContent = `${model.name}${model.role === 'candidate' ? ', explicit choice only' : ''}`;
        option.title = `${model.role}: ${model.modalities.join(', ')}${score}`;
        $('model-select').append(option);
      }
      break;
    case 'progress':
      $('progress').hidden = data.fraction === null;
      if (data.fraction !== null) $('progress').value = data.fraction;
      setStatus(data.fraction === null ? `${data.stage}…` : `${data.stage}: ${Math.round(100 * data.fraction)}%`, 'busy');
      return;
    case 'volume': {
      const { info } = data;
      const pixels = new ImageData(new Uint8ClampedArray(data.rgba.buffer), info.width, info.height);
      state.image = { name: data.name.replace(/\.nii\.gz$/i, '.nii'), width: info.width, height: info.height, bitmap: await createImageBitmap(pixels) };
      state.volume = { info, z: data.z, labels: null, labelsWindow: null };
      state.encoded = false;
      state.objects = [];
      state.undo = [];
      state.redo = [];
      state.selected = null;
      // A challenge case brings its boxes: one object each, with its slice range.
      for (const [x0, y0, z0, x1, y1, z1] of info.boxes) {
        const id = state.nextId++;
        state.objects.push({ id, color: COLORS[(id - 1) % COLORS.length], box: [x0, y0, x1, y1], mask: null, z0, z1 });
      }
      $('volume-bar').hidden = false;
      $('volume-help').hidden = false;
      $('slice').max = info.depth - 1;
      $('slice').value = data.z;
      $('slice-label').textContent = `${data.z} / ${info.depth - 1}`;
      showWindow(info.window, info.window_label);
      const [level, width] = info.window_label.match(/W(-?[\d.]+)\/L(-?[\d.]+)/)?.slice(1).reverse() ?? ['', ''];
      $('window-width').value = width;
      $('window-level').value = level;
      const spacing = info.spacing.map((v) => v.toFixed(2)).join(' × ');
      $('volume-notes').textContent = [`${info.format} ${info.width}×${info.height}×${info.depth}, ${spacing} mm, modality ${info.modality ?? 'not given'}`, ...info.notes].join(' · ');
      stage.classList.add('has-image');
      fit();
      changed();
      break;
    }
    case 'slice':
    case 'window': {
      if (!state.volume) break;
      const { width, height } = state.image;
      const pixels = new ImageData(new Uint8ClampedArray(data.rgba.buffer), width, height);
      state.image.bitmap = await createImageBitmap(pixels);
      state.volume.z = data.z;
      $('slice-label').textContent = `${data.z} / ${state.volume.info.depth - 1}`;
      if (data.type === 'window') {
        showWindow(data.applied.window, data.applied.label);
        $('window-width').value = Number(data.applied.width.toFixed(2));
        $('window-level').value = Number(data.applied.level.toFixed(2));
      } else {
        sliceInFlight = false;
        if (sliceWanted !== null && sliceWanted !== data.z) {
          const next = sliceWanted;
          sliceWanted = null;
          showSlice(next);
        }
        sliceWanted = null;
      }
      changed();
      break;
    }
    case 'labels3d':
      state.volume.labels = data.labels;
      state.volume.labelsWindow = data.window;
      $('cancel-3d').hidden = true;
      $('progress').hidden = true;
      $('timings').textContent = `3D: ${(data.ms / 1000).toFixed(1)} s, window ${data.window}`;
      changed();
      break;
    case 'file':
      download(new Blob([data.bytes]), data.name);
      break;
    case 'image': {
      const pixels = new ImageData(new Uint8ClampedArray(data.rgba.buffer), data.width, data.height);
      state.image = { name: data.name, width: data.width, height: data.height, bitmap: await createImageBitmap(pixels) };
      state.volume = null;
      $('volume-bar').hidden = true;
      $('volume-help').hidden = true;
      $('volume-notes').textContent = '';
      state.encoded = false;
      state.objects = [];
      state.undo = [];
      state.redo = [];
      state.selected = null;
      stage.classList.add('has-image');
      fit();
      changed();
      break;
    }
    case 'route':
      $('model-name').textContent = `${data.route.model_id}: ${data.route.reason}`;
      break;
    case 'model-loaded':
      $('timings').textContent = `model ${data.id} ${data.fromCache ? 'from the offline cache' : 'downloaded'}, ready in ${Math.round(data.ms)} ms`;
      break;
    case 'encoded':
      state.encoded = true;
      // A case's own boxes get their 2D preview once, on the slice shown first.
      if (state.volume && !state.volume.previewed) {
        state.volume.previewed = true;
        for (const object of state.objects) if (object.z0 <= state.volume.z && state.volume.z <= object.z1) segment(object);
      }
      $('progress').hidden = true;
      $('timings').textContent = `encode ${Math.round(data.ms)} ms${data.cacheHit ? ' (cached)' : ''}`;
      break;
    case 'mask': {
      const object = state.objects.find((o) => o.id === data.objectId);
      // A mask for a box that has since moved is stale: the newer job is already queued.
      if (object && object.box.join() === data.box.join()) object.mask = data.mask;
      $('timings').textContent = `${$('timings').textContent.split(' · ')[0]} · decode ${Math.round(data.ms)} ms`;
      changed();
      break;
    }
    case 'png':
      download(new Blob([data.png], { type: 'image/png' }), `${baseName()}_mask.png`);
      break;
    case 'error':
      state.error = data.message;
      if (data.job === 'segment') state.objects = state.objects.filter((o) => o.id !== data.objectId);
      if (data.job === 'slice') sliceInFlight = false;
      $('cancel-3d').hidden = true;
      $('progress').hidden = true;
      changed();
      break;
    case 'idle':
      state.pending -= 1;
      if (!['open', 'openVolume'].includes(data.job) || !state.error) refreshStatus();
      break;
  }
  refreshStatus();
};

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
resizeCanvas();
refreshStatus();
send({ type: 'init', threads: threadsWanted });
