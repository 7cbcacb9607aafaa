// What the page shows and sets about encoding ahead and stored embeddings: the bar under the
// slice slider (which slices are encoded), the encoder-run count, the "Stored data" panel (what
// is stored, the budget, Clear), and the idle-time setting. The worker does the work; the page
// tells it the drawn boxes' slice ranges (encoded first) and shows the stats it answers with.
const $ = (id) => document.getElementById(id);
const BUDGET_SETTING = 'daftseg.storeBudgetMiB';
const BACKGROUND_SETTING = 'daftseg.background';
const MiB = 1024 * 1024;

export function installStorage(state, client) {
  const budgetMiB = Number(localStorage.getItem(BUDGET_SETTING)) || 1024;
  $('store-budget').value = budgetMiB;
  $('background-setting').checked = localStorage.getItem(BACKGROUND_SETTING) !== 'off';
  let sentRanges = null;

  function show(stats) {
    if (!stats) return;
    state.stats = stats;
    $('encoder-runs').textContent = `encoder runs: ${stats.encoderRuns}`;
    Object.assign($('encoder-runs').dataset, { runs: stats.encoderRuns, stepsWaited: stats.background.maxStepsWaited, memory: stats.wasmMemoryBytes ?? '' });
    drawBar(stats.encoded);
    const s = stats.store;
    const line = $('store-line');
    $('store-list').replaceChildren();
    if (s.unavailable) {
      line.textContent = `not kept between visits: ${s.unavailable}`;
      line.dataset.entries = 0;
      return;
    }
    line.textContent = `${s.entries} embeddings, ${(s.bytes / MiB).toFixed(1)} of ${(s.budget / MiB).toFixed(0)} MiB (${s.kind})` + (s.lastError ? ` · last storage error: ${s.lastError}` : '');
    Object.assign(line.dataset, { entries: s.entries, bytes: s.bytes, evicted: s.evicted, damaged: s.damaged, read: s.read });
    for (const e of s.encoders) {
      const item = document.createElement('li');
      const model = state.manifest?.models.find((m) => m.encoder.sha256 === e.encoder);
      item.textContent = `${model ? `encoder of ${model.id}` : `encoder ${e.encoder.slice(0, 12)}…`}: ${e.entries} (${(e.bytes / MiB).toFixed(1)} MiB)`;
      $('store-list').append(item);
    }
  }

  function drawBar(encoded) {
    const canvas = $('slice-encoded');
    const context = canvas.getContext('2d');
    context.clearRect(0, 0, canvas.width, canvas.height);
    const done = encoded ? encoded.reduce((n, e) => n + e, 0) : 0;
    canvas.dataset.encoded = done;
    canvas.title = encoded ? `${done} of ${encoded.length} slices encoded` : '';
    if (!encoded?.length) return;
    context.fillStyle = '#4dd2ff';
    const step = canvas.width / encoded.length;
    encoded.forEach((e, z) => {
      if (e) context.fillRect(Math.floor(z * step), 0, Math.ceil(step), canvas.height);
    });
  }

  // Requests of their own, not the page's `call`: the status line stays as it is.
  const ask = (name, args) => client.request(name, args).then(show, () => {});

  /** Tell the worker the drawn boxes' slice ranges when they changed. */
  function syncRanges() {
    if (!state.model) return;
    const ranges = state.volume ? state.objects.flatMap((o) => [o.z0, o.z1]) : [];
    const key = `${$('background-setting').checked}:${ranges.join(',')}`;
    if (key === sentRanges) return;
    sentRanges = key;
    ask('setBackground', { enabled: $('background-setting').checked, ranges });
  }

  $('background-setting').onchange = () => {
    localStorage.setItem(BACKGROUND_SETTING, $('background-setting').checked ? 'on' : 'off');
    syncRanges();
  };
  $('store-budget').onchange = () => {
    const value = Math.max(0, Number($('store-budget').value));
    localStorage.setItem(BUDGET_SETTING, String(value));
    ask('setStoreBudget', { bytes: value * MiB });
  };
  $('clear-store').onclick = () => ask('clearStore', {});

  return {
    show,
    syncRanges,
    refresh: () => ask('stats', {}),
    /** What `init` needs: the budget, and the backend a URL may ask for (`?store=indexeddb`). */
    initArgs: () => ({
      storeBudget: budgetMiB * MiB,
      storeBackend: new URLSearchParams(location.search).get('store') ?? 'opfs',
      background: $('background-setting').checked,
    }),
  };
}
