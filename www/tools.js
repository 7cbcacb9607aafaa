// The pointer and keyboard tools on the canvas: draw a new box, move or resize one (Edit), paint
// or erase the selected object (Brush, Eraser), pan (right or middle drag), zoom or change slice
// (wheel), window/level (Shift+drag in volumes), undo/redo and delete. Each finished edit is one
// state change and one `onEdited()` (a box) or `onStroke()` (a brush or eraser stroke).
import { addObject, beginEdit, clampBox, endEdit } from './state.js';

const $ = (id) => document.getElementById(id);

export function installTools(state, view, { onEdited, onStroke, onClick, onWindowDragged, showSlice, undo, redo, remove, setMode, onKeyTool }) {
  const { canvas } = view;
  let drag = null;

  function hit(point) {
    const [ix, iy] = view.toImage(...point);
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
  const clamp = (box) => clampBox(box, state.image.width, state.image.height);

  canvas.addEventListener('pointerdown', (event) => {
    if (!state.image) return;
    canvas.setPointerCapture(event.pointerId);
    const point = view.eventPoint(event);
    if (event.button === 1 || event.button === 2) {
      drag = { kind: 'pan', start: point, view: { ...state.view }, button: event.button, at: view.toImage(...point) };
      return;
    }
    if (event.shiftKey && state.volume) {
      drag = { kind: 'window', start: point, width: Number($('window-width').value), level: Number($('window-level').value) };
      return;
    }
    if (state.mode === 'brush' || state.mode === 'eraser') {
      // Pixel centres are at whole coordinates for the engine (pixel i spans [i, i + 1) here).
      drag = { kind: state.mode, points: [view.toImage(...point).map((v) => v - 0.5)] };
      view.setPendingStroke(drag);
      view.draw();
      return;
    }
    const [ix, iy] = view.toImage(...point).map(Math.floor);
    const target = state.mode === 'edit' ? hit(point) : null;
    if (target) {
      state.selected = target.object.id;
      drag = { kind: target.corner >= 0 ? 'resize' : 'move', object: target.object, corner: target.corner, start: [ix, iy], box: [...target.object.box], before: beginEdit(state) };
    } else {
      drag = { kind: 'new', box: [ix, iy, ix, iy] };
      view.setPendingBox(drag.box);
    }
    view.draw();
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drag) return;
    const point = view.eventPoint(event);
    if (drag.kind === 'pan') {
      state.view.x = drag.view.x + point[0] - drag.start[0];
      state.view.y = drag.view.y + point[1] - drag.start[1];
    } else if (drag.kind === 'window') {
      // Right: wider; down: higher level; one canvas pixel moves by 1/256 of the window.
      const step = Math.max(drag.width, 1) / 256;
      $('window-width').value = Math.max(1, drag.width + (point[0] - drag.start[0]) * step).toFixed(1);
      $('window-level').value = (drag.level + (point[1] - drag.start[1]) * step).toFixed(1);
      return;
    } else if (drag.kind === 'brush' || drag.kind === 'eraser') {
      const next = view.toImage(...point).map((v) => v - 0.5);
      const last = drag.points[drag.points.length - 1];
      // A new point once the pointer has moved a quarter of the radius (strokes stay short).
      if (Math.hypot(next[0] - last[0], next[1] - last[1]) >= Math.max(0.5, state.brush / 4)) drag.points.push(next);
    } else {
      const [ix, iy] = view.toImage(...point).map(Math.floor);
      if (drag.kind === 'new') {
        drag.box[2] = ix;
        drag.box[3] = iy;
      } else if (drag.kind === 'move') {
        const [dx, dy] = [ix - drag.start[0], iy - drag.start[1]];
        drag.object.box = clamp([drag.box[0] + dx, drag.box[1] + dy, drag.box[2] + dx, drag.box[3] + dy]);
      } else {
        const box = [...drag.box];
        box[drag.corner % 2 === 0 ? 0 : 2] = ix;
        box[drag.corner < 2 ? 1 : 3] = iy;
        drag.object.box = clamp(box);
      }
    }
    view.draw();
  });
  canvas.addEventListener('pointerup', (event) => {
    if (!drag) return;
    const done = drag;
    drag = null;
    view.setPendingBox(null);
    // Pixel centres are at whole coordinates for the engine.
    const clickAt = ([x, y]) => [x - 0.5, y - 0.5];
    if (done.kind === 'pan') {
      // A right click that did not pan is a click off the object (Draw mode).
      const moved = Math.hypot(state.view.x - done.view.x, state.view.y - done.view.y);
      if (done.button === 2 && moved < 3 && state.mode === 'draw') onClick(...clickAt(done.at), false);
      view.render();
      return;
    }
    if (done.kind === 'window') {
      onWindowDragged();
      return;
    }
    if (done.kind === 'brush' || done.kind === 'eraser') {
      view.setPendingStroke(null);
      onStroke(done.kind === 'brush' ? 'paint' : 'erase', done.points);
      view.draw();
      return;
    }
    if (done.kind === 'new') {
      const box = clamp(done.box);
      if (box[2] - box[0] >= 2 && box[3] - box[1] >= 2) {
        addObject(state, box);
        onEdited();
      } else {
        // A click is not a box: it refines the selected object (Alt: off the object).
        onClick(...clickAt(view.toImage(...view.eventPoint(event))), !event.altKey);
      }
    } else if ((done.kind === 'move' || done.kind === 'resize') && endEdit(state, done.before)) {
      onEdited();
    }
    view.render();
  });
  canvas.addEventListener('contextmenu', (event) => event.preventDefault());
  canvas.addEventListener('wheel', (event) => {
    if (!state.image) return;
    event.preventDefault();
    if (state.volume && !event.ctrlKey) {
      showSlice(state.volume.z + Math.sign(event.deltaY));
      return;
    }
    const [cx, cy] = view.eventPoint(event);
    const factor = Math.exp(-event.deltaY * 0.0015);
    const [ix, iy] = view.toImage(cx, cy);
    state.view.scale *= factor;
    state.view.x = cx - ix * state.view.scale;
    state.view.y = cy - iy * state.view.scale;
    view.draw();
  }, { passive: false });

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
      remove(state.selected);
    } else if (event.target === document.body && !event.ctrlKey && !event.metaKey && !event.altKey) {
      // Single keys, as ITK-SNAP and Slicer have them (not while typing a name or a number).
      const modes = { d: 'draw', m: 'edit', b: 'brush', e: 'eraser' };
      const tools = { f: 'fillHoles', l: 'keepLargest', c: 'clearSlice' };
      if (modes[key]) setMode(modes[key]);
      else if (tools[key]) onKeyTool(tools[key]);
      else if (key === '[' || key === ']') {
        const size = $('brush-size');
        size.value = Number(size.value) + (key === ']' ? 1 : -1);
        size.dispatchEvent(new Event('input'));
      }
    }
  });
}
