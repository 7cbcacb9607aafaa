// The page's state and every edit of it, without the DOM (tests/browser/state.test.mjs runs
// these in Node). What the page owns: the objects the user drew (boxes and, in volumes, their
// slice ranges), the selection, undo/redo, the view, and the labels the engine last returned.
// What the engine owns (the open study, window, models, cache) lives in the worker, not here.

export const COLORS = ['#ff4d4d', '#4dd2ff', '#ffd24d', '#7dff4d', '#d24dff', '#ff9f4d', '#4dffb8', '#ff4da6', '#4d7dff', '#c8ff4d'];

export function createState() {
  return {
    image: null, // { name, width, height, bitmap }
    encoded: false,
    model: null, // the model the open study was routed to (or the user chose)
    override: '', // the user's choice of model, '' for the router's
    objects: [], // { id, name, color, visible, box: [x0, y0, x1, y1], z0, z1, clicks, algorithm, edits }
    modality: null, // the open study's modality as routed (names new objects)
    display: 'filled', // how labels are drawn: 'filled' or 'outline'
    // The 2D labels of the shown image (slice z of a volume): label k is object ids[k - 1].
    // `model` is the engine's segmentation, `labels` it with the manual edits applied.
    labels2d: null, // { z, ids, model: Uint16Array, labels: Uint16Array, areas: Map(id -> px) }
    generation: 0, // bumped by every 2D segmentation request: older replies are stale
    selected: null,
    undo: [],
    redo: [],
    pending: 0, // requests sent to the worker and not answered
    error: null,
    view: { scale: 1, x: 0, y: 0 },
    mode: 'draw',
    nextId: 1,
    nextEdit: 1, // orders manual edits across objects
    brush: 5, // brush and eraser radius, in pixels
    // An open volume: { info, z, model3d (the 3D result) | null, labels (it with the manual
    // edits) | null, labelsWindow, window, windowLabel }.
    volume: null,
  };
}

/** `[x0, y0, x1, y1]` with x0 <= x1 and y0 <= y1. */
export function normalised([x0, y0, x1, y1]) {
  return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
}

/** The box inside a `width x height` image. */
export function clampBox(box, width, height) {
  const [x0, y0, x1, y1] = normalised(box);
  return [Math.max(0, x0), Math.max(0, y0), Math.min(width - 1, x1), Math.min(height - 1, y1)];
}

const snapshot = (state) => state.objects.map((o) => ({ ...o, box: [...o.box] }));

/** Whether an object's box is on the shown image (always, for a 2D image). */
export const onShownSlice = (state, object) => !state.volume || (object.z0 <= state.volume.z && state.volume.z <= object.z1);

/** A new study: no objects but those it brings (a challenge case's boxes), no history. */
export function openStudy(state, info, image) {
  state.image = image;
  state.volume = info.kind === 'volume' ? { info, z: info.slice, model3d: null, labels: null } : null;
  state.encoded = false;
  state.model = null;
  state.objects = [];
  state.labels2d = null;
  state.undo = [];
  state.redo = [];
  state.selected = null;
  state.modality = info.modality ?? null;
  for (const [x0, y0, z0, x1, y1, z1] of info.boxes) newObject(state, [x0, y0, x1, y1], z0, z1);
}

function newObject(state, box, z0, z1) {
  const id = state.nextId++;
  const number = state.objects.length + 1;
  const name = state.modality ? `${state.modality} structure ${number}` : `structure ${number}`;
  // algorithm: how its labels were made, for DICOM SEG; edits: its manual edits, in order.
  // clicks: { x, y, positive, z } refining its box's mask (on slice z of a volume).
  const object = { id, name, color: COLORS[(id - 1) % COLORS.length], visible: true, box, z0, z1, clicks: [], algorithm: 'automatic', edits: [] };
  state.objects.push(object);
  return object;
}

/** Objects from a label file (`{ label, sourceLabel, bbox, name?, colour?, algorithm? }` each,
 * label k the k-th) replace the drawn ones, as one undo step; each keeps its label's box (and
 * slice range), so it can be segmented again, and the name, colour and algorithm a DICOM SEG
 * gives (labels from other files count as semi-automatic: who made them is not known). Returns
 * the new objects, in label order. */
export function openLabelObjects(state, fileName, objects) {
  remember(state);
  state.objects = [];
  const created = objects.map(({ sourceLabel, bbox: [x0, y0, z0, x1, y1, z1], name, colour, algorithm }) => {
    const object = newObject(state, [x0, y0, x1, y1], state.volume ? z0 : undefined, state.volume ? z1 : undefined);
    object.name = name ?? `${fileName} ${sourceLabel}`;
    if (colour != null) object.color = `#${colour.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
    object.algorithm = algorithm ?? 'semiautomatic';
    return object;
  });
  state.selected = null;
  return created;
}

/** Change how object `id` looks (`{ name, color, visible }`): not an edit of the segmentation,
 * so not an undo step, and undo/redo keep it (every snapshot of the object changes too). */
export function setAppearance(state, id, changes) {
  const allowed = Object.fromEntries(Object.entries(changes).filter(([key]) => ['name', 'color', 'visible'].includes(key)));
  if (typeof allowed.name === 'string') allowed.name = allowed.name.trim() || undefined;
  if (allowed.name === undefined) delete allowed.name;
  for (const objects of [state.objects, ...state.undo, ...state.redo]) {
    for (const object of objects) if (object.id === id) Object.assign(object, allowed);
  }
}

// Every edit below is one undo step; it makes the 3D result out of date.
function remember(state, before = snapshot(state)) {
  state.undo.push(before);
  state.redo = [];
  if (state.volume) state.volume.labels = state.volume.model3d = null;
}

/** A click refining object `id`'s mask (`{ x, y, positive }` in image pixels, on the shown
 * slice): one undo step; the object is segmented again with it (the decoder only). */
export function addClick(state, id, click) {
  const object = state.objects.find((o) => o.id === id);
  if (!object || !onShownSlice(state, object)) return false;
  remember(state);
  object.clicks = [...object.clicks, { ...click, z: state.volume?.z ?? 0 }];
  return true;
}

/** The clicks of the objects in `shown` on the shown slice, as the engine takes them:
 * `[index in shown, x, y, 1 | 0]` each. */
export function clicksFor(state, shown) {
  const z = state.volume?.z ?? 0;
  return shown.flatMap((o, i) => o.clicks.filter((c) => c.z === z).flatMap((c) => [i, c.x, c.y, c.positive ? 1 : 0]));
}

/** A manual edit of object `id` (`{ kind: 'paint' | 'erase', z, points, radius }`, `{ kind:
 * 'fillHoles' | 'clearSlice', z }` or `{ kind: 'keepLargest', z }`, z null for the whole
 * volume): one undo step. The model's labels stay as they are; the edits go over them, now and
 * after every segmentation to come. */
export function addEdit(state, id, edit) {
  const object = state.objects.find((o) => o.id === id);
  if (!object) return false;
  state.undo.push(snapshot(state));
  state.redo = [];
  object.edits = [...object.edits, { ...edit, seq: state.nextEdit++ }];
  return true;
}

/** The edits for labels where object `ids[k - 1]` is label k, in the order they were made, as
 * the engine takes them. `slice`: for the 2D labels of that slice of a volume (only its edits,
 * numbered slice 0); null for an image or a whole volume. */
export function editsFor(state, ids, slice = null) {
  const found = [];
  for (const object of state.objects) {
    const label = ids.indexOf(object.id) + 1;
    if (!label) continue;
    for (const { seq, ...edit } of object.edits) {
      if (slice !== null && edit.z !== slice) continue;
      found.push({ seq, edit: { ...edit, label, ...(slice !== null ? { z: 0 } : {}) } });
    }
  }
  return found.sort((a, b) => a.seq - b.seq).map(({ edit }) => edit);
}

/** How an object's labels were made, as DICOM SEG says it: edited by hand is semi-automatic. */
export const algorithmOf = (object) => (object.edits.length ? 'semiautomatic' : object.algorithm);

/** A box drawn on the shown image (slice z of a volume): a new, selected object. */
export function addObject(state, box) {
  remember(state);
  const z = state.volume?.z;
  const object = newObject(state, box, z, z);
  state.selected = object.id;
  return object;
}

/** Start moving or resizing: what undo goes back to. */
export const beginEdit = (state) => snapshot(state);

/** The end of a move or resize that started at `before` (from beginEdit); false if nothing moved. */
export function endEdit(state, before) {
  const moved = state.objects.some((o, i) => o.box.join() !== before[i]?.box.join());
  if (moved) remember(state, before);
  return moved;
}

export function removeObject(state, id) {
  remember(state);
  state.objects = state.objects.filter((o) => o.id !== id);
  if (state.selected === id) state.selected = null;
}

/** The selected object's slice range ends ('top') or starts ('bottom') at the shown slice. */
export function setRangeEnd(state, end) {
  const object = state.objects.find((o) => o.id === state.selected);
  if (!object || !state.volume) return false;
  remember(state);
  const z = state.volume.z;
  if (end === 'top') object.z1 = z;
  else object.z0 = z;
  if (object.z0 > object.z1) [object.z0, object.z1] = [object.z1, object.z0];
  return true;
}

const geometry = (objects) => objects.map((o) => `${o.id}:${o.box.join()}:${o.z0}:${o.z1}:${o.clicks.length}`).join('|');

/** Undo or redo: 'boxes' when boxes or ranges changed (segment again; a volume's 3D result is
 * out of date), 'edits' when only manual edits did (apply them again), false if nothing to do. */
function travel(state, from, to) {
  if (!state[from].length) return false;
  state[to].push(snapshot(state));
  const before = geometry(state.objects);
  state.objects = state[from].pop();
  const boxesChanged = geometry(state.objects) !== before;
  if (state.volume && boxesChanged) state.volume.labels = state.volume.model3d = null;
  if (!state.objects.some((o) => o.id === state.selected)) state.selected = null;
  return boxesChanged ? 'boxes' : 'edits';
}
export const undo = (state) => travel(state, 'undo', 'redo');
export const redo = (state) => travel(state, 'redo', 'undo');

/** The measurements of what is shown: a volume's 3D labels, or an image's labels; null until
 * the engine has measured them. */
export const currentMeasurements = (state) => (state.volume ? (state.volume.labels && state.volume.measurements) || null : state.labels2d?.measurements ?? null);

/** Start a 2D segmentation of the objects on the shown image: they and the request's number. */
export function begin2d(state) {
  state.labels2d = null;
  return { shown: state.objects.filter((o) => onShownSlice(state, o)), generation: ++state.generation };
}

/** The engine's labels for `shown` (label k is shown[k - 1]); false when a newer request superseded it. */
export function accept2d(state, { shown, generation }, labels) {
  if (generation !== state.generation) return false;
  state.labels2d = { z: state.volume?.z, ids: shown.map((o) => o.id), model: labels, labels: null, areas: null };
  setLabels2d(state.labels2d, labels);
  return true;
}

/** The 2D labels as shown (the model's with the manual edits), and each object's area. */
export function setLabels2d(labels2d, labels) {
  const areas = new Map(labels2d.ids.map((id) => [id, 0]));
  for (const label of labels) if (label) areas.set(labels2d.ids[label - 1], areas.get(labels2d.ids[label - 1]) + 1);
  labels2d.labels = labels;
  labels2d.areas = areas;
  labels2d.measurements = null;
}
