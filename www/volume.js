// The volume bar: the shown slice, the window (presets, width/level, Shift+drag), each box's
// slice range, and 3D propagation with progress and Cancel. Slices and windows are the
// engine's: each change is a request, and the page shows the image it answers with.
import { setRangeEnd } from './state.js';

const $ = (id) => document.getElementById(id);

export function installVolumeControls(state, { call, attempt, changed, bitmapOf, refreshStats, applyEdits }) {
  // The slider moves faster than slices arrive: one request at a time, then the latest wanted.
  const slices = { wanted: null, inFlight: false };
  function showSlice(z) {
    if (!state.volume) return;
    slices.wanted = Math.max(0, Math.min(state.volume.info.depth - 1, z));
    $('slice').value = slices.wanted;
    if (slices.inFlight) return;
    slices.inFlight = true;
    attempt(async () => {
      try {
        while (slices.wanted !== null && state.volume) {
          const want = slices.wanted;
          slices.wanted = null;
          const { rgba } = await call('showSlice', { z: want });
          state.image.bitmap = await bitmapOf(rgba, state.image.width, state.image.height);
          state.volume.z = want;
          $('slice-label').textContent = `${want} / ${state.volume.info.depth - 1}`;
          changed();
        }
      } finally {
        slices.inFlight = false;
      }
    });
  }

  function requestWindow(window) {
    attempt(async () => {
      const { applied, rgba } = await call('setWindow', { window });
      state.image.bitmap = await bitmapOf(rgba, state.image.width, state.image.height);
      showWindow(state, applied);
      changed();
    });
  }
  function setManualWindow() {
    requestWindow({ kind: 'manual', width: Number($('window-width').value), level: Number($('window-level').value) });
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

  for (const [button, end] of [['z-top', 'top'], ['z-bottom', 'bottom']]) {
    $(button).onclick = () => {
      if (setRangeEnd(state, end)) changed();
    };
  }

  let cancel3d = null;
  $('segment-3d').onclick = () => {
    const boxes = state.objects.flatMap((o) => [o.box[0], o.box[1], o.z0, o.box[2], o.box[3], o.z1]);
    // Cancel needs memory shared with the worker (the page is cross-origin isolated).
    cancel3d = self.crossOriginIsolated ? new Int32Array(new SharedArrayBuffer(4)) : null;
    $('cancel-3d').hidden = !cancel3d;
    const windowLabel = state.volume.windowLabel;
    attempt(async () => {
      try {
        const { labels, ms, encoderRuns } = await call('segment3d', { model: state.model, boxes, cancel: cancel3d ? cancel3d.buffer : new ArrayBuffer(4) });
        state.volume.model3d = state.volume.labels = labels;
        state.volume.measurements = null;
        state.volume.labelsWindow = windowLabel;
        // Every label is now the model's (opened labels included: they were segmented again);
        // the manual edits go over it.
        for (const o of state.objects) o.algorithm = 'automatic';
        await applyEdits();
        $('timings').textContent = `3D: ${(ms / 1000).toFixed(1)} s, ${encoderRuns} slices encoded for it, window ${windowLabel}`;
        $('timings').dataset.encoderRuns3d = encoderRuns;
        refreshStats();
      } catch (error) {
        if (error.name === 'Cancelled') $('timings').textContent = '3D: cancelled';
        throw error;
      } finally {
        $('cancel-3d').hidden = true;
        changed();
      }
    });
  };
  $('cancel-3d').onclick = () => {
    if (cancel3d) Atomics.store(cancel3d, 0, 1);
  };

  return { showSlice, setManualWindow };
}

/** Show the window as applied (`{ window, label, level, width }`) in the bar. */
export function showWindow(state, applied) {
  state.volume.window = applied.window;
  state.volume.windowLabel = applied.label;
  $('window-preset').value = applied.window.kind === 'preset' ? applied.window.name : applied.window.kind;
  $('window-label').textContent = applied.label;
  $('window-width').value = Number(applied.width.toFixed(2));
  $('window-level').value = Number(applied.level.toFixed(2));
}

/** The bar for a newly opened study: shown for volumes, with their slice, window and notes. */
export function showVolumeBar(state, info) {
  $('volume-bar').hidden = $('volume-help').hidden = !state.volume;
  $('volume-notes').textContent = '';
  if (!state.volume) return;
  $('slice').max = info.depth - 1;
  $('slice').value = info.slice;
  $('slice-label').textContent = `${info.slice} / ${info.depth - 1}`;
  showWindow(state, info.window);
  const spacing = info.spacing.map((v) => v.toFixed(2)).join(' × ');
  $('volume-notes').textContent = [`${info.format} ${info.width}×${info.height}×${info.depth}, ${spacing} mm, modality ${info.modality ?? 'not given'}`, ...info.notes].join(' · ');
}
