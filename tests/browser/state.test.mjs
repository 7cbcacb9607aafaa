// The page's state (www/state.js) without a browser: edits, undo/redo, slice ranges, and the
// 2D labels a reply brings (stale replies dropped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createState, openStudy, addObject, beginEdit, endEdit, removeObject, setRangeEnd, undo, redo, begin2d, accept2d, clampBox, setAppearance, addEdit, editsFor, algorithmOf, addClick, clicksFor } from '../../www/state.js';

const image = { name: 'x.png', width: 10, height: 8, bitmap: null };
const imageInfo = { kind: 'image', boxes: [], slice: 0 };
const boxes = (state) => state.objects.map((o) => o.box.join());

test('every edit is one undo step, and redo replays it', () => {
  const state = createState();
  openStudy(state, imageInfo, image);
  const a = addObject(state, [1, 1, 4, 4]);
  addObject(state, [5, 5, 8, 7]);
  const before = beginEdit(state);
  assert.equal(endEdit(state, before), false, 'nothing moved: no undo step');
  a.box = [2, 2, 5, 5];
  assert.equal(endEdit(state, before), true);
  removeObject(state, a.id);
  assert.deepEqual(boxes(state), ['5,5,8,7']);
  assert.equal(state.undo.length, 4);
  assert.ok(undo(state));
  assert.deepEqual(boxes(state), ['2,2,5,5', '5,5,8,7']);
  assert.ok(undo(state));
  assert.deepEqual(boxes(state), ['1,1,4,4', '5,5,8,7']);
  assert.ok(redo(state));
  assert.deepEqual(boxes(state), ['2,2,5,5', '5,5,8,7']);
  // A new edit drops what could be redone.
  addObject(state, [0, 0, 3, 3]);
  assert.equal(redo(state), false);
  for (let i = 0; i < 4; i++) assert.ok(undo(state));
  assert.equal(undo(state), false, 'nothing left to undo');
  assert.deepEqual(boxes(state), []);
  assert.equal(state.selected, null, 'no selection of an object that is gone');
  assert.deepEqual(clampBox([12, -3, 4, 2], 10, 8), [4, 0, 9, 2]);
});

test('a volume: boxes on the shown slice, ranges, and the 3D result going stale', () => {
  const state = createState();
  openStudy(state, { kind: 'volume', slice: 5, boxes: [[1, 1, 2, 6, 6, 8]], depth: 10 }, image);
  assert.deepEqual(state.objects.map((o) => [o.z0, o.z1]), [[2, 8]], 'a case brings its boxes and ranges');
  const b = addObject(state, [0, 0, 3, 3]);
  assert.deepEqual([b.z0, b.z1], [5, 5]);
  state.volume.labels = new Uint16Array(1);
  state.volume.z = 2;
  assert.ok(setRangeEnd(state, 'bottom'));
  assert.deepEqual([b.z0, b.z1], [2, 5]);
  assert.equal(state.volume.labels, null, 'a changed range makes the 3D result stale');
  state.volume.z = 1;
  setRangeEnd(state, 'top');
  assert.deepEqual([b.z0, b.z1], [1, 2], 'a top below the bottom swaps them');
  // Only the boxes whose range holds the shown slice are segmented in 2D.
  state.volume.z = 7;
  assert.deepEqual(begin2d(state).shown.map((o) => o.id), [state.objects[0].id]);
});

test('2D labels count each object and a superseded reply is dropped', () => {
  const state = createState();
  openStudy(state, imageInfo, image);
  const a = addObject(state, [0, 0, 4, 4]);
  const b = addObject(state, [2, 2, 6, 6]);
  const first = begin2d(state);
  const second = begin2d(state);
  assert.equal(accept2d(state, first, Uint16Array.of(1, 1)), false);
  assert.equal(state.labels2d, null);
  assert.ok(accept2d(state, second, Uint16Array.of(0, 1, 2, 2, 2)));
  assert.deepEqual([...state.labels2d.areas], [[a.id, 1], [b.id, 3]]);
});

test('objects are named from the modality; name, colour and visibility survive undo and redo', () => {
  const state = createState();
  openStudy(state, { ...imageInfo, modality: 'CT' }, image);
  const a = addObject(state, [1, 1, 4, 4]);
  const b = addObject(state, [5, 5, 8, 7]);
  assert.deepEqual([a.name, b.name, a.visible], ['CT structure 1', 'CT structure 2', true]);
  const undoSteps = state.undo.length;
  setAppearance(state, a.id, { name: '  tumour ', color: '#123456', visible: false, box: [0, 0, 9, 9] });
  assert.equal(state.undo.length, undoSteps, 'appearance is not an undo step');
  assert.deepEqual([a.name, a.color, a.visible, a.box.join()], ['tumour', '#123456', false, '1,1,4,4']);
  setAppearance(state, a.id, { name: '   ' });
  assert.equal(a.name, 'tumour', 'an empty name keeps the old one');
  assert.ok(undo(state)); // removes b
  const kept = state.objects.find((o) => o.id === a.id);
  assert.deepEqual([kept.name, kept.color, kept.visible], ['tumour', '#123456', false]);
  assert.ok(redo(state));
  assert.equal(state.objects.find((o) => o.id === a.id).name, 'tumour');
});

test('manual edits: one undo step each, in the order made, kept over the model\'s labels', () => {
  const state = createState();
  openStudy(state, imageInfo, image);
  const a = addObject(state, [1, 1, 4, 4]);
  const b = addObject(state, [5, 5, 8, 7]);
  assert.equal(algorithmOf(a), 'automatic');
  assert.ok(addEdit(state, a.id, { kind: 'paint', z: 0, points: [[1, 1]], radius: 2 }));
  assert.ok(addEdit(state, b.id, { kind: 'erase', z: 0, points: [[6, 6], [7, 6]], radius: 1 }));
  assert.ok(addEdit(state, a.id, { kind: 'fillHoles', z: 0 }));
  assert.equal(addEdit(state, 999, { kind: 'fillHoles', z: 0 }), false, 'no such object');
  assert.equal(algorithmOf(a), 'semiautomatic');
  // Labels by position in `ids`, edits in the order they were made across objects.
  assert.deepEqual(editsFor(state, [a.id, b.id]).map((e) => [e.kind, e.label]), [['paint', 1], ['erase', 2], ['fillHoles', 1]]);
  assert.deepEqual(editsFor(state, [b.id]).map((e) => [e.kind, e.label]), [['erase', 1]]);
  assert.equal(undo(state), 'edits', 'undoing an edit needs no new segmentation');
  assert.deepEqual(editsFor(state, [a.id, b.id]).map((e) => e.kind), ['paint', 'erase']);
  assert.equal(redo(state), 'edits');
  assert.equal(state.objects[0].edits.length, 2);
  const before = beginEdit(state);
  state.objects[0].box = [0, 0, 3, 3];
  assert.ok(endEdit(state, before));
  assert.equal(undo(state), 'boxes', 'a moved box is segmented again');
  assert.equal(state.objects[0].edits.length, 2, 'its edits stay with it');
});

test('a volume: edits of one slice for its 2D labels, all of them for the 3D result', () => {
  const state = createState();
  openStudy(state, { kind: 'volume', slice: 3, boxes: [], depth: 10 }, image);
  const a = addObject(state, [0, 0, 5, 5]);
  state.volume.model3d = state.volume.labels = new Uint16Array(1);
  addEdit(state, a.id, { kind: 'paint', z: 3, points: [[1, 1]], radius: 1 });
  addEdit(state, a.id, { kind: 'clearSlice', z: 5 });
  addEdit(state, a.id, { kind: 'keepLargest', z: null });
  assert.ok(state.volume.model3d, 'an edit keeps the model\'s 3D result');
  assert.deepEqual(editsFor(state, [a.id], 3), [{ kind: 'paint', z: 0, points: [[1, 1]], radius: 1, label: 1 }]);
  assert.deepEqual(editsFor(state, [a.id]).map((e) => [e.kind, e.z]), [['paint', 3], ['clearSlice', 5], ['keepLargest', null]]);
  assert.equal(undo(state), 'edits');
  assert.ok(state.volume.model3d, 'undoing an edit keeps it too');
  state.volume.z = 4;
  assert.ok(setRangeEnd(state, 'top'));
  assert.equal(state.volume.model3d, null, 'a changed range makes it stale');
});

test('clicks: one undo step each, on their slice, as the engine takes them', () => {
  const state = createState();
  openStudy(state, { kind: 'volume', slice: 2, boxes: [], depth: 5 }, image);
  const a = addObject(state, [1, 1, 6, 6]);
  const b = addObject(state, [0, 0, 3, 3]);
  state.volume.model3d = state.volume.labels = new Uint16Array(1);
  assert.ok(addClick(state, b.id, { x: 2, y: 1, positive: true }));
  assert.equal(state.volume.model3d, null, 'a click changes the model\'s result');
  assert.ok(addClick(state, a.id, { x: 4.5, y: 3, positive: false }));
  state.volume.z = 3;
  assert.equal(addClick(state, a.id, { x: 1, y: 1, positive: true }), false, 'not on a slice the box spans');
  state.volume.z = 2;
  assert.deepEqual(clicksFor(state, state.objects), [0, 4.5, 3, 0, 1, 2, 1, 1]);
  assert.deepEqual(clicksFor(state, [b]), [0, 2, 1, 1]);
  assert.equal(undo(state), 'boxes', 'undoing a click segments again');
  assert.deepEqual(clicksFor(state, state.objects), [1, 2, 1, 1]);
});
