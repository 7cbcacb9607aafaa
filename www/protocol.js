// The page <-> worker protocol, written down once. The page calls `client.request(name, args)`
// and gets a promise of the worker's result (or its error, rejected as an Error with the
// engine's `name`: `Cancelled`, `DecodeError`, ...); the worker answers with `serve(handlers)`.
// Requests carry ids, so replies can never be taken for another request's. The worker may also
// send events (`progress`) between a request and its reply.
//
// Requests (args -> result):
//   init          { threads }              -> { threads, singleThreadReason, manifest }
//   open          { names, buffers, cancel? } -> { info: StudyInfo, rgba }  (progress events while a
//                   volume is read; `cancel`, shared memory, set to 1 stops it: Error `Cancelled`)
//   encode        { model }                -> { route, modelLoad, encodeMs, cacheHit }
//                   (route the open study, `model` being the user's choice or '', load the
//                   model if needed, encode the shown image; when neither metadata nor name
//                   says the modality, the general model's embedding decides it first, and
//                   route.reason says "from the image content (confidence ...)")
//   showSlice     { z }                    -> { z, rgba }
//   setWindow     { window }               -> { applied, rgba }
//   segmentBoxes  { model, boxes, clicks } -> { labels, ms, encoderRuns }  (boxes: 4 numbers
//                   each; clicks: [box index, x, y, 1 on / 0 off the object] each, optional)
//   segment3d     { model, boxes, cancel } -> { labels, ms }      (boxes: 6 numbers each;
//                   cancel: a SharedArrayBuffer the page sets to 1 to stop between slices)
//   exportLabels  { labels, name, slice }  -> { bytes }
//   applyEdits    { labels, width, height, edits } -> { labels }  (manual edits in order over
//                   labels of whole slices: [{ kind: 'paint' | 'erase', label, z, points:
//                   [[x, y], ...], radius } | { kind: 'fillHoles' | 'clearSlice', label, z } |
//                   { kind: 'keepLargest', label, z (null: the whole volume) }])
//   exportSeg     { labels, segments, algorithmName, createdUnixS } -> { bytes }  (a DICOM SEG
//                   over a study opened from DICOM; segments: [{ label, name, colour: [r, g, b],
//                   algorithm: 'automatic' | 'semiautomatic' | 'manual' }])
//   openLabels    { name, buffer }         -> { labels, objects: [{ label, sourceLabel, voxels,
//                   bbox, name?, colour?, algorithm? }] }  (a label file over the open study,
//                   renumbered 1..n; name, colour and algorithm from a DICOM SEG; another size
//                   or geometry is an error)
//   measure       { labels }               -> { rows, unit, csv }  (per object in 3D and per
//                   slice: voxels, areaMm2 / volumeMl, mean, sd, min, max, bbox; unit "HU" for CT)
//   setBackground { enabled, ranges }      -> stats   (idle-time encoding on or off; ranges:
//                   the drawn boxes' slice ranges, [z_min, z_max] flat, encoded first)
//   stats         {}                       -> stats
//   prefetch      { model }                -> null    (start downloading a model's files)
//   setStoreBudget { bytes }               -> stats   (the persistent store's budget)
//   clearStore    {}                       -> stats   (every stored embedding removed)
// stats: { encoderRuns, cachedEmbeddings, encoded (one 0/1 per slice of an open volume, else
//          null), background: { enabled, model, steps, maxStepsWaited }, wasmMemoryBytes,
//          store: { kind, budget, bytes, entries, encoders, evicted, failures, lastError,
//          read, written, damaged } or { unavailable: reason } }
// Events: progress { stage, fraction (null while unknown) }; encoded stats (after each slice
// encoded in idle time); idleError { message } (idle time stopped at a failure).

/** A result and the buffers to move (not copy) to the other side. */
export class Transfer {
  constructor(value, buffers) {
    this.value = value;
    this.buffers = buffers;
  }
}

/** The page's side: one pending promise per request id. */
export class EngineClient {
  #worker;
  #nextId = 1;
  #pending = new Map();
  #listeners = new Map();

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => this.#receive(data);
  }

  /** Send request `name`; resolves with its result, rejects with its error. */
  request(name, args = {}, transfer = []) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, name, args }, transfer);
    });
  }

  /** Call `listener(data)` for every event `name` (progress). */
  on(name, listener) {
    this.#listeners.set(name, listener);
  }

  terminate() {
    this.#worker.terminate();
  }

  #receive(message) {
    if (message.event) {
      this.#listeners.get(message.event)?.(message.data);
      return;
    }
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (message.error) {
      const error = new Error(message.error.message);
      error.name = message.error.name;
      pending.reject(error);
    } else pending.resolve(message.result);
  }
}

/** The worker's side: run `handlers[name](args, emit)` one request at a time, in order (the
 * engine is not re-entrant), and answer each. When no request waits, `idle(emit)` runs: one
 * short step of background work (one encoder run), then it yields; it resolves `true` when it
 * did a step, `false` when there was nothing to do (it sleeps until `wake()`). A request that arrives during a step runs right after that step, so it waits
 * for at most one step: `stepsWaited()` is the most any request waited. Returns `{ emit, wake }`:
 * `wake()` starts idle work again after something gave it more to do. */
export function serve(scope, handlers, idle = null) {
  const emit = (event, data) => scope.postMessage({ event, data });
  let queue = Promise.resolve();
  let waiting = 0; // requests received, not yet answered
  let steps = 0;
  let maxStepsWaited = 0;
  let idleScheduled = false;
  const wake = () => {
    if (!idle || idleScheduled) return;
    idleScheduled = true;
    // A task later, so that requests already posted are received (and queued) first.
    setTimeout(() => {
      idleScheduled = false;
      if (waiting > 0) return; // the last answer wakes it again
      queue = queue.then(async () => {
        if (waiting > 0) return;
        let stepped = false;
        try {
          stepped = await idle(emit);
        } catch (error) {
          emit('idleError', { message: String(error?.message ?? error) });
        }
        if (stepped) {
          steps += 1;
          wake(); // until a step finds nothing to do
        }
      });
    }, 0);
  };
  scope.onmessage = ({ data: { id, name, args } }) => {
    waiting += 1;
    const stepsAtArrival = steps;
    queue = queue.then(async () => {
      maxStepsWaited = Math.max(maxStepsWaited, steps - stepsAtArrival);
      try {
        const handler = handlers[name];
        if (!handler) throw new Error(`unknown request '${name}'`);
        const result = await handler(args, emit);
        if (result instanceof Transfer) scope.postMessage({ id, result: result.value }, result.buffers);
        else scope.postMessage({ id, result });
      } catch (error) {
        scope.postMessage({ id, error: { name: error?.name ?? 'Error', message: String(error?.message ?? error) } });
      } finally {
        waiting -= 1;
        if (waiting === 0) wake();
      }
    });
  };
  return { emit, wake, steps: () => steps, stepsWaited: () => maxStepsWaited };
}
