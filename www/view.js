// What the user sees: the image on the canvas through one scale and one offset, the labels over
// it, the boxes, and the list of objects. Reads the state, never changes what the engine owns.
import { onShownSlice, normalised, currentMeasurements, algorithmOf } from './state.js';

const $ = (id) => document.getElementById(id);

export function createView(state, { onSelect, onRemove, onAppearance }) {
  const canvas = $('viewer');
  const ctx = canvas.getContext('2d');
  const stage = $('stage');
  const overlay = document.createElement('canvas');
  // The box being drawn, shown until the pointer is released; likewise a brush stroke.
  let pendingBox = null;
  let pendingStroke = null;

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

  // The labels on the shown image: the 3D result's slice, else the 2D labels if they are of
  // this slice. Label k is the colour of its object.
  function renderOverlay() {
    if (!state.image) return;
    const { width, height } = state.image;
    overlay.width = width;
    overlay.height = height;
    const octx = overlay.getContext('2d');
    const data = octx.createImageData(width, height);
    const rgb = (color) => [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
    // A hidden object has no colour: it is not painted.
    const colorOf = (id) => {
      const object = state.objects.find((o) => o.id === id);
      return object?.visible === false ? null : rgb(object?.color ?? '#ffffff');
    };
    const outline = state.display === 'outline';
    const paint = (labels, colors) => {
      for (let p = 0; p < labels.length; p++) {
        const label = labels[p];
        if (!label) continue;
        const color = colors[label - 1] === undefined ? [255, 255, 255] : colors[label - 1];
        if (!color) continue;
        if (outline) {
          // Only the object's border: a pixel with a 4-neighbour of another label (or the edge).
          const x = p % width;
          const inside = x > 0 && x < width - 1 && p >= width && p < labels.length - width && labels[p - 1] === label && labels[p + 1] === label && labels[p - width] === label && labels[p + width] === label;
          if (inside) continue;
        }
        data.data.set([...color, 255], 4 * p);
      }
    };
    const volume = state.volume;
    if (volume?.labels) {
      const plane = width * height;
      paint(volume.labels.subarray(volume.z * plane, (volume.z + 1) * plane), state.objects.map((o) => colorOf(o.id)));
    } else if (state.labels2d && (!volume || state.labels2d.z === volume.z)) {
      paint(state.labels2d.labels, state.labels2d.ids.map(colorOf));
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
    const shown = state.objects.filter((o) => o.visible !== false && onShownSlice(state, o));
    const boxes = shown.map((o) => ({ box: o.box, color: o.color, selected: o.id === state.selected }));
    if (pendingBox) boxes.push({ box: normalised(pendingBox), color: '#ffffff', selected: true });
    for (const { box, color, selected } of boxes) {
      const [x0, y0] = toCanvas(box[0], box[1]);
      const [x1, y1] = toCanvas(box[2] + 1, box[3] + 1);
      ctx.strokeStyle = color;
      ctx.lineWidth = selected ? 2.5 : 1.5;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }
    // Clicks on the shown slice: green on the object, red off it.
    const z = state.volume?.z ?? 0;
    for (const object of shown) {
      for (const click of object.clicks.filter((c) => c.z === z)) {
        const [cx, cy] = toCanvas(click.x + 0.5, click.y + 0.5);
        ctx.beginPath();
        ctx.arc(cx, cy, 5, 0, 2 * Math.PI);
        ctx.fillStyle = click.positive ? '#2ecc40' : '#ff4136';
        ctx.fill();
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = '#ffffff';
        ctx.stroke();
      }
    }
    // The stroke being drawn: as wide as the brush, in the object's colour (the eraser's dark).
    if (pendingStroke) {
      const object = state.objects.find((o) => o.id === state.selected);
      ctx.strokeStyle = pendingStroke.kind === 'eraser' ? 'rgba(0, 0, 0, 0.6)' : object?.color ?? '#ffffff';
      ctx.globalAlpha = 0.6;
      ctx.lineCap = ctx.lineJoin = 'round';
      ctx.lineWidth = Math.max(1, (2 * state.brush + 1) * scale);
      ctx.beginPath();
      for (const [i, [px, py]] of pendingStroke.points.entries()) {
        const [cx, cy] = toCanvas(px + 0.5, py + 0.5);
        if (i === 0) ctx.moveTo(cx, cy);
        ctx.lineTo(cx, cy);
      }
      ctx.stroke();
      ctx.globalAlpha = 1;
    }
  }

  // One item per object: its colour, slice range (volumes), and size: px of its 2D mask, or
  // voxels of the 3D result. `data-mask` is 1 once the object has its mask on this image;
  // `data-edits` counts its manual edits, `data-algorithm` says how it was made (DICOM SEG's).
  function renderList() {
    const list = $('object-list');
    // Not while the user types a name in it (the next change redraws it).
    if (list.contains(document.activeElement) && document.activeElement.type === 'text') return;
    list.replaceChildren();
    state.objects.forEach((object, i) => {
      const item = document.createElement('li');
      const area = state.labels2d?.areas.get(object.id);
      item.dataset.objectId = object.id;
      item.dataset.mask = area !== undefined ? '1' : '0';
      item.dataset.z0 = object.z0 ?? '';
      item.dataset.z1 = object.z1 ?? '';
      item.className = object.id === state.selected ? 'selected' : '';
      item.dataset.visible = object.visible === false ? '0' : '1';
      item.dataset.edits = object.edits.length;
      item.dataset.clicks = object.clicks.length;
      item.dataset.algorithm = algorithmOf(object);
      const visible = document.createElement('input');
      visible.type = 'checkbox';
      visible.className = 'visible';
      visible.checked = object.visible !== false;
      visible.title = 'Show or hide this object';
      visible.onchange = () => onAppearance(object.id, { visible: visible.checked });
      const color = document.createElement('input');
      color.type = 'color';
      color.className = 'color';
      color.value = object.color;
      color.title = 'Colour';
      color.onchange = () => onAppearance(object.id, { color: color.value });
      const name = document.createElement('input');
      name.type = 'text';
      name.className = 'name';
      name.value = object.name ?? '';
      name.title = 'Name (press Enter)';
      name.onchange = () => onAppearance(object.id, { name: name.value });
      for (const input of [visible, color, name]) input.onclick = (event) => event.stopPropagation();
      const label = document.createElement('span');
      const range = state.volume ? ` slices ${object.z0}–${object.z1},` : '';
      let size = area !== undefined ? `${area} px` : 'segmenting…';
      if (state.volume && area === undefined && !onShownSlice(state, object)) size = 'no 2D preview';
      if (state.volume?.labels) size = `${state.volume.labels.reduce((n, v) => n + (v === i + 1), 0)} voxels in 3D`;
      // Measurements: a volume's 3D row (mL), an image's (px); label k is the k-th object.
      const measured = currentMeasurements(state);
      // (serde leaves `None` undefined: `== null` covers both.)
      const row = measured?.rows.find((r) => r.label === i + 1 && r.slice == null);
      if (row) {
        const unit = measured.unit ? ` ${measured.unit}` : '';
        size += row.volumeMl != null && state.volume ? `, ${row.volumeMl.toFixed(2)} mL` : '';
        size += `, mean ${row.mean.toFixed(1)}${unit} (SD ${row.sd.toFixed(1)}, ${row.min}–${row.max})`;
        item.dataset.mean = row.mean;
        if (row.volumeMl != null) item.dataset.volumeMl = row.volumeMl;
      }
      const edits = (object.clicks.length ? `, ${object.clicks.length} click${object.clicks.length > 1 ? 's' : ''}` : '') + (object.edits.length ? `, ${object.edits.length} manual edit${object.edits.length > 1 ? 's' : ''}` : '');
      label.textContent = `label ${i + 1}:${range} ${size}${edits}`;
      label.className = 'details';
      const remove = document.createElement('button');
      remove.textContent = '✕';
      remove.title = 'Delete this object';
      remove.onclick = (event) => {
        event.stopPropagation();
        onRemove(object.id);
      };
      item.append(visible, color, name, remove, label);
      item.onclick = () => onSelect(object.id);
      list.append(item);
    });
  }

  /** Put the labels of the shown image (2D or 3D) and everything drawn in line with the state. */
  function render() {
    renderOverlay();
    renderList();
    draw();
  }

  /** The labels, boxes and image on a canvas of the image's size (Export overlay). */
  function overlayPicture() {
    const out = document.createElement('canvas');
    out.width = state.image.width;
    out.height = state.image.height;
    const octx = out.getContext('2d');
    octx.drawImage(state.image.bitmap, 0, 0);
    octx.globalAlpha = Number($('opacity').value);
    octx.drawImage(overlay, 0, 0);
    return out;
  }

  return {
    canvas,
    stage,
    resizeCanvas,
    fit,
    draw,
    render,
    toImage,
    eventPoint,
    overlayPicture,
    setPendingBox(box) {
      pendingBox = box;
    },
    setPendingStroke(stroke) {
      pendingStroke = stroke;
    },
  };
}
