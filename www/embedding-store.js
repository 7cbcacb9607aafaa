// The persistent embedding store's storage, in the worker: the origin-private file system (OPFS,
// read and written through synchronous access handles), IndexedDB where OPFS is missing. Entries
// are the engine's (src/store.rs: both keys, the shape and a checksum inside, so a damaged one
// is detected by the engine, which then asks for it to be deleted); this file only keeps them
// under their names, within a byte budget, least recently used out first. Nothing here leaves
// the origin. A storage failure (quota, private mode) is remembered and reported, never thrown at
// a request: the app goes on from memory.

const DIRECTORY = 'daftseg-embeddings';
const INDEX = 'index.json';
export const DEFAULT_BUDGET = 1024 * 1024 * 1024;

// ---- backends: read, write, remove, names, clear; and one small JSON index ----

async function opfsBackend() {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(DIRECTORY, { create: true });
  // Store names are `<encoder sha256>/<input sha256>`; files are flat.
  const fileName = (name) => `${name.replace('/', '-')}.emb`;
  const withHandle = async (file, create, use) => {
    const handle = await (await dir.getFileHandle(file, { create })).createSyncAccessHandle();
    try {
      return use(handle);
    } finally {
      handle.close();
    }
  };
  const readFile = async (file) => {
    try {
      return await withHandle(file, false, (h) => {
        const bytes = new Uint8Array(h.getSize());
        h.read(bytes, { at: 0 });
        return bytes;
      });
    } catch (error) {
      if (error.name === 'NotFoundError') return null;
      throw error;
    }
  };
  const writeFile = (file, bytes) =>
    withHandle(file, true, (h) => {
      h.truncate(0);
      const written = h.write(bytes, { at: 0 });
      if (written !== bytes.length) throw new Error(`wrote ${written} of ${bytes.length} bytes`);
      h.flush();
    });
  const removeFile = async (file) => {
    try {
      await dir.removeEntry(file);
    } catch (error) {
      if (error.name !== 'NotFoundError') throw error;
    }
  };
  return {
    kind: 'origin-private file system',
    read: (name) => readFile(fileName(name)),
    write: (name, bytes) => writeFile(fileName(name), bytes),
    remove: (name) => removeFile(fileName(name)),
    async names() {
      const names = [];
      for await (const file of dir.keys()) if (file.endsWith('.emb')) names.push(file.slice(0, -4).replace('-', '/'));
      return names;
    },
    async readIndex() {
      const bytes = await readFile(INDEX);
      return bytes ? JSON.parse(new TextDecoder().decode(bytes)) : {};
    },
    writeIndex: (index) => writeFile(INDEX, new TextEncoder().encode(JSON.stringify(index))),
    async clear() {
      for (const file of await arrayFrom(dir.keys())) await removeFile(file);
    },
  };
}

async function arrayFrom(iterator) {
  const items = [];
  for await (const item of iterator) items.push(item);
  return items;
}

async function indexedDbBackend() {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open(DIRECTORY, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore('entries');
      request.result.createObjectStore('meta');
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const run = (storeName, mode, use) =>
    new Promise((resolve, reject) => {
      const transaction = db.transaction(storeName, mode);
      const request = use(transaction.objectStore(storeName));
      transaction.oncomplete = () => resolve(request?.result);
      transaction.onerror = transaction.onabort = () => reject(transaction.error);
    });
  return {
    kind: 'IndexedDB',
    read: async (name) => {
      const value = await run('entries', 'readonly', (s) => s.get(name));
      return value ? new Uint8Array(value) : null;
    },
    write: (name, bytes) => run('entries', 'readwrite', (s) => s.put(bytes, name)),
    remove: (name) => run('entries', 'readwrite', (s) => s.delete(name)),
    names: () => run('entries', 'readonly', (s) => s.getAllKeys()),
    readIndex: async () => (await run('meta', 'readonly', (s) => s.get(INDEX))) ?? {},
    writeIndex: (index) => run('meta', 'readwrite', (s) => s.put(index, INDEX)),
    async clear() {
      await run('entries', 'readwrite', (s) => s.clear());
      await run('meta', 'readwrite', (s) => s.clear());
    },
  };
}

/** Open the store: OPFS with synchronous access handles when this worker has them (or
 * `prefer` says 'indexeddb'), else IndexedDB; null (and why) when neither opens. */
export async function openEmbeddingStore({ budget = DEFAULT_BUDGET, prefer = 'opfs' } = {}) {
  const attempts = [];
  const opfs = typeof FileSystemFileHandle === 'function' && 'createSyncAccessHandle' in FileSystemFileHandle.prototype && navigator.storage?.getDirectory;
  if (prefer !== 'indexeddb' && opfs) attempts.push(opfsBackend);
  if (typeof indexedDB !== 'undefined') attempts.push(indexedDbBackend);
  const failures = [];
  for (const open of attempts) {
    try {
      const backend = await open();
      const store = new EmbeddingStore(backend, budget);
      await store.load();
      return { store, reason: null };
    } catch (error) {
      failures.push(error?.message ?? String(error));
    }
  }
  return { store: null, reason: failures.length ? failures.join('; ') : 'this browser has neither the origin-private file system nor IndexedDB' };
}

/** Entries by name, each `{ bytes, usedAt }`, within `budget` bytes. */
class EmbeddingStore {
  #backend;
  #index = new Map();
  #clock = 0;
  budget;
  evicted = 0;
  failures = 0;
  lastError = null;

  constructor(backend, budget) {
    this.#backend = backend;
    this.budget = budget;
  }

  get kind() {
    return this.#backend.kind;
  }

  /** The index, reconciled with what the storage holds: an entry without a file is forgotten,
   * a file without an entry (a write cut short) is removed. */
  async load() {
    const index = await this.#backend.readIndex();
    const names = new Set(await this.#backend.names());
    for (const [name, entry] of Object.entries(index)) {
      if (names.has(name) && Number.isFinite(entry?.bytes) && Number.isFinite(entry?.usedAt)) this.#index.set(name, entry);
    }
    for (const name of names) if (!this.#index.has(name)) await this.#backend.remove(name);
    this.#clock = Math.max(Date.now(), ...[...this.#index.values()].map((e) => e.usedAt + 1));
    await this.#saveIndex();
  }

  // Strictly increasing, so that two uses in one millisecond still have an order.
  #now() {
    this.#clock = Math.max(this.#clock + 1, Date.now());
    return this.#clock;
  }

  async #saveIndex() {
    await this.#backend.writeIndex(Object.fromEntries(this.#index));
  }

  #failed(error) {
    this.failures += 1;
    this.lastError = `${error?.name ?? 'Error'}: ${error?.message ?? error}`;
  }

  /** The entry stored under `name`, or null. */
  async get(name) {
    const entry = this.#index.get(name);
    if (!entry) return null;
    try {
      const bytes = await this.#backend.read(name);
      if (!bytes) {
        this.#index.delete(name);
        await this.#saveIndex();
        return null;
      }
      entry.usedAt = this.#now();
      await this.#saveIndex();
      return bytes;
    } catch (error) {
      this.#failed(error);
      return null;
    }
  }

  /** Keep `bytes` under `name`, evicting the least recently used entries until it fits; false
   * when it does not fit the budget or the storage refused it (quota). */
  async put(name, bytes) {
    if (bytes.length > this.budget) return false;
    try {
      await this.#evict(this.budget - bytes.length, name);
      this.#index.set(name, { bytes: bytes.length, usedAt: this.#now() });
      await this.#backend.write(name, bytes);
      await this.#saveIndex();
      return true;
    } catch (error) {
      this.#failed(error);
      this.#index.delete(name);
      await this.#backend.remove(name).catch(() => {});
      await this.#saveIndex().catch(() => {});
      return false;
    }
  }

  /** Forget `name` (the engine found it damaged). */
  async delete(name) {
    this.#index.delete(name);
    try {
      await this.#backend.remove(name);
      await this.#saveIndex();
    } catch (error) {
      this.#failed(error);
    }
  }

  // Evict the least recently used entries (all but `keep`) until they take at most `target` bytes.
  async #evict(target, keep = null) {
    const candidates = [...this.#index.entries()].filter(([name]) => name !== keep).sort((a, b) => a[1].usedAt - b[1].usedAt);
    let used = candidates.reduce((sum, [, entry]) => sum + entry.bytes, 0);
    for (const [name, entry] of candidates) {
      if (used <= target) break;
      this.#index.delete(name);
      await this.#backend.remove(name);
      used -= entry.bytes;
      this.evicted += 1;
    }
  }

  /** A new budget; entries beyond it are evicted now. */
  async setBudget(bytes) {
    this.budget = bytes;
    try {
      await this.#evict(bytes);
      await this.#saveIndex();
    } catch (error) {
      this.#failed(error);
    }
  }

  /** Remove every entry. */
  async clear() {
    this.#index.clear();
    try {
      await this.#backend.clear();
      await this.#saveIndex();
    } catch (error) {
      this.#failed(error);
    }
  }

  /** What is stored: `{ kind, budget, bytes, entries, encoders: [{ encoder, entries, bytes }],
   * evicted, failures, lastError }`. */
  summary() {
    const encoders = new Map();
    let bytes = 0;
    for (const [name, entry] of this.#index) {
      const encoder = name.split('/')[0];
      const e = encoders.get(encoder) ?? { encoder, entries: 0, bytes: 0 };
      e.entries += 1;
      e.bytes += entry.bytes;
      encoders.set(encoder, e);
      bytes += entry.bytes;
    }
    return { kind: this.kind, budget: this.budget, bytes, entries: this.#index.size, encoders: [...encoders.values()], evicted: this.evicted, failures: this.failures, lastError: this.lastError };
  }
}
