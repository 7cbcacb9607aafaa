// Minimal NPZ (numpy .npz) reading and writing for the evaluation scripts: little-endian
// integer/float arrays, C order; compressed (deflate) or stored entries.
import { crc32, inflateRawSync } from 'node:zlib';

const DTYPES = {
  '|u1': Uint8Array, '<u1': Uint8Array, '|i1': Int8Array, '<u2': Uint16Array, '<i2': Int16Array,
  '<u4': Uint32Array, '<i4': Int32Array, '<i8': BigInt64Array, '<u8': BigUint64Array, '<f4': Float32Array, '<f8': Float64Array,
};

function parseNpy(buffer) {
  const major = buffer[6];
  const headerLength = major === 1 ? buffer.readUInt16LE(8) : buffer.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buffer.subarray(start, start + headerLength).toString('latin1');
  const descr = header.match(/'descr':\s*'([^']+)'/)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error('fortran-order arrays are not supported');
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map((v) => v.trim()).filter(Boolean).map(Number);
  const Type = DTYPES[descr];
  if (!Type) throw new Error(`dtype ${descr} is not supported`);
  const body = buffer.subarray(start + headerLength);
  const data = new Type(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
  return { shape, data: Type === BigInt64Array || Type === BigUint64Array ? Array.from(data, Number) : data };
}

/** name -> { shape, data } */
export function readNpz(buffer) {
  const arrays = {};
  // End of central directory, then its entries.
  let eocd = buffer.length - 22;
  while (eocd >= 0 && buffer.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('not a zip file');
  const count = buffer.readUInt16LE(eocd + 10);
  let entry = buffer.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    const method = buffer.readUInt16LE(entry + 10);
    let compressedSize = buffer.readUInt32LE(entry + 20);
    const nameLength = buffer.readUInt16LE(entry + 28);
    const extraLength = buffer.readUInt16LE(entry + 30);
    const commentLength = buffer.readUInt16LE(entry + 32);
    let localOffset = buffer.readUInt32LE(entry + 42);
    const name = buffer.subarray(entry + 46, entry + 46 + nameLength).toString();
    // ZIP64 extra field (numpy writes it): sizes and offset that overflow 32 bits.
    const extra = buffer.subarray(entry + 46 + nameLength, entry + 46 + nameLength + extraLength);
    for (let p = 0; p + 4 <= extra.length;) {
      const id = extra.readUInt16LE(p);
      const size = extra.readUInt16LE(p + 2);
      if (id === 1) {
        let q = p + 4;
        if (buffer.readUInt32LE(entry + 24) === 0xffffffff) q += 8;
        if (compressedSize === 0xffffffff) { compressedSize = Number(extra.readBigUInt64LE(q)); q += 8; }
        if (localOffset === 0xffffffff) localOffset = Number(extra.readBigUInt64LE(q));
      }
      p += 4 + size;
    }
    const dataStart = localOffset + 30 + buffer.readUInt16LE(localOffset + 26) + buffer.readUInt16LE(localOffset + 28);
    const raw = buffer.subarray(dataStart, dataStart + compressedSize);
    const npy = method === 8 ? inflateRawSync(raw) : method === 0 ? raw : null;
    if (!npy) throw new Error(`zip method ${method} is not supported`);
    arrays[name.replace(/\.npy$/, '')] = parseNpy(Buffer.from(npy));
    entry += 46 + nameLength + extraLength + commentLength;
  }
  return arrays;
}

function npy(shape, data) {
  const descr = data instanceof Uint8Array ? '|u1' : data instanceof Uint16Array ? '<u2' : data instanceof Float64Array ? '<f8' : null;
  if (!descr) throw new Error('only uint8, uint16 and float64 arrays are written');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((header.length + 10) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(prefix);
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** { name: { shape, data } } -> .npz bytes (stored, uncompressed). */
export function writeNpz(arrays) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, { shape, data }] of Object.entries(arrays)) {
    const body = npy(shape, data);
    const fileName = Buffer.from(`${name}.npy`);
    const crc = crc32(body);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(body.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(body.length, 24);
    central.writeUInt16LE(fileName.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, fileName, body);
    centrals.push(central, fileName);
    offset += local.length + fileName.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(arrays).length, 8);
  end.writeUInt16LE(Object.keys(arrays).length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
