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
  for (const object of state.objects) {
    if (!object.mask) continue;
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(object.color.slice(i, i + 2), 16));
    for (let p = 0; p < object.mask.length; p++) {
      if (object.mask[p]) {
        data.data[4 * p] = r;
        data.data[4 * p + 1] = g;
        data.data[4 * p + 2] = b;
        data.data[4 * p + 3] = 255;
      }
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
  const boxes = state.objects.map((o) => ({ box: o.box, color: o.color, selected: o.id === state.selected }));
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
    label.textContent = `label ${i + 1}: ${object.mask ? `${area} px` : 'segmenting…'}`;
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
}
function restore(objects) {
  state.objects = objects;
  for (const object of state.objects) if (!object.mask) segment(object);
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
  if (done.kind === 'new') {
    const box = clampBox(done.box);
    if (box[2] - box[0] >= 2 && box[3] - box[1] >= 2) {
      remember();
      const object = { id: state.nextId, color: COLORS[(state.nextId - 1) % COLORS.length], box, mask: null };
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
  const [cx, cy] = eventPoint(event);
  const factor = Math.exp(-event.deltaY * 0.0015);
  const [ix, iy] = toImage(cx, cy);
  state.view.scale *= factor;
  state.view.x = cx - ix * state.view.scale;
  state.view.y = cy - iy * state.view.scale;
  draw();
}, { passive: false });

// ---- files ----
async function openFile(file) {
  if (!file) return;
  const bytes = await file.arrayBuffer();
  send({ type: 'open', name: file.name, bytes }, [bytes]);
}
$('open-file').addEventListener('change', (event) => {
  openFile(event.target.files[0]);
  event.target.value = '';
});
stage.addEventListener('dragover', (event) => {
  event.preventDefault();
  stage.classList.add('dragging');
});
stage.addEventListener('dragleave', () => stage.classList.remove('dragging'));
stage.addEventListener('drop', (event) => {
  event.preventDefault();
  stage.classList.remove('dragging');
  openFile(event.dataTransfer.files[0]);
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
window.addEventListener('resize', () => {
  resizeCanvas();
  fit();
});

// ---- messages from the worker ----
worker.onmessage = async ({ data }) => {
  switch (data.type) {
    case 'manifest':
      for (const model of data.manifest.models) {
        const option = document.createElement('option');
        option.value = model.id;
        option.textContent = model.name;
        $('model-select').append(option);
      }
      break;
    case 'progress':
      $('progress').hidden = data.fraction === null;
      if (data.fraction !== null) $('progress').value = data.fraction;
      setStatus(data.fraction === null ? `${data.stage}…` : `${data.stage}: ${Math.round(100 * data.fraction)}%`, 'busy');
      return;
    case 'image': {
      const pixels = new ImageData(new Uint8ClampedArray(data.rgba.buffer), data.width, data.height);
      state.image = { name: data.name, width: data.width, height: data.height, bitmap: await createImageBitmap(pixels) };
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
      $('progress').hidden = true;
      changed();
      break;
    case 'idle':
      state.pending -= 1;
      if (data.job !== 'open' || !state.error) refreshStatus();
      break;
  }
  refreshStatus();
};

if ('serviceWorker' in navigator) navigator.serviceWorker.register('sw.js').catch(() => {});
resizeCanvas();
refreshStatus();
send({ type: 'init' });
