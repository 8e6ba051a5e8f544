// Small independent GGUF (v3) reader for the e2e tests, plus the negative
// control: a copy of a converted GGUF whose attn_q/attn_k tensors have the
// rotary row permutation undone.

import fs from 'node:fs';

export const GGUF_TYPE = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 };
// ggml tensor types we may meet: [name, block elements, block bytes]
export const GGML_TYPE = { 0: ['F32', 1, 4], 1: ['F16', 1, 2], 30: ['BF16', 1, 2], 28: ['F64', 1, 8], 39: ['MXFP4', 32, 17] };

class Cursor {
  constructor(buf) { this.buf = buf; this.pos = 0; }
  need(n) { if (this.pos + n > this.buf.length) throw new Error(`gguf: truncated at ${this.pos}`); }
  u8() { this.need(1); return this.buf[this.pos++]; }
  i8() { this.need(1); return this.buf.readInt8(this.pos++); }
  u16() { this.need(2); const v = this.buf.readUInt16LE(this.pos); this.pos += 2; return v; }
  i16() { this.need(2); const v = this.buf.readInt16LE(this.pos); this.pos += 2; return v; }
  u32() { this.need(4); const v = this.buf.readUInt32LE(this.pos); this.pos += 4; return v; }
  i32() { this.need(4); const v = this.buf.readInt32LE(this.pos); this.pos += 4; return v; }
  f32() { this.need(4); const v = this.buf.readFloatLE(this.pos); this.pos += 4; return v; }
  f64() { this.need(8); const v = this.buf.readDoubleLE(this.pos); this.pos += 8; return v; }
  u64() { this.need(8); const v = this.buf.readBigUInt64LE(this.pos); this.pos += 8; return v; }
  i64() { this.need(8); const v = this.buf.readBigInt64LE(this.pos); this.pos += 8; return v; }
  u64n() { const v = this.u64(); if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('gguf: u64 too large'); return Number(v); }
  str() { const n = this.u64n(); this.need(n); const s = this.buf.toString('utf8', this.pos, this.pos + n); this.pos += n; return s; }
  value(type) {
    switch (type) {
      case 0: return this.u8(); case 1: return this.i8(); case 2: return this.u16(); case 3: return this.i16();
      case 4: return this.u32(); case 5: return this.i32(); case 6: return this.f32();
      case 7: { const b = this.u8(); if (b > 1) throw new Error('gguf: bad bool'); return b === 1; }
      case 8: return this.str();
      case 9: {
        const et = this.u32(), n = this.u64n();
        const a = new Array(n);
        for (let i = 0; i < n; i++) a[i] = this.value(et);
        a.elemType = et;
        return a;
      }
      case 10: return this.u64(); case 11: return this.i64(); case 12: return this.f64();
      default: throw new Error(`gguf: bad KV type ${type}`);
    }
  }
}

// Parse the header of a GGUF held in buf (a Buffer of at least the header).
export function parseGguf(buf) {
  const c = new Cursor(buf);
  if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error('gguf: bad magic');
  c.pos = 4;
  const version = c.u32();
  if (version !== 3) throw new Error(`gguf: version ${version}`);
  const nTensors = c.u64n(), nKv = c.u64n();
  const kv = new Map(), kvTypes = new Map();
  for (let i = 0; i < nKv; i++) {
    const key = c.str(), type = c.u32();
    if (kv.has(key)) throw new Error(`gguf: duplicate key ${key}`);
    kv.set(key, c.value(type));
    kvTypes.set(key, type);
  }
  const tensors = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.str(), nd = c.u32();
    const ne = [];
    for (let d = 0; d < nd; d++) ne.push(c.u64n());
    const type = c.u32(), offset = c.u64n();
    const tt = GGML_TYPE[type];
    const nel = ne.reduce((a, b) => a * b, 1);
    tensors.push({ name, ne, type, typeName: tt ? tt[0] : `type${type}`, offset,
      nbytes: tt ? (nel / tt[1]) * tt[2] : null });
  }
  const alignment = kv.has('general.alignment') ? kv.get('general.alignment') : 32;
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  return { version, kv, kvTypes, tensors, alignment, headerEnd: c.pos, dataStart };
}

export function readGguf(file) { return parseGguf(fs.readFileSync(file)); }

// Reverse of llama.cpp's LlamaModel.permute on the rows of one tensor:
// the permuted row h*D + 2k + s holds source row h*D + s*D/2 + k.
export function unpermuteRows(data, nRows, rowBytes, nHead) {
  if (nRows % nHead) throw new Error(`rows ${nRows} not divisible by heads ${nHead}`);
  const D = nRows / nHead;
  if (D % 2) throw new Error('odd head dim');
  const out = Buffer.alloc(data.length);
  for (let h = 0; h < nHead; h++)
    for (let s = 0; s < 2; s++)
      for (let k = 0; k < D / 2; k++) {
        const src = h * D + 2 * k + s, dst = h * D + s * (D / 2) + k;
        data.copy(out, dst * rowBytes, src * rowBytes, (src + 1) * rowBytes);
      }
  return out;
}

// Forward permutation (as the converter does), used to self-check unpermuteRows.
export function permuteRows(data, nRows, rowBytes, nHead) {
  const D = nRows / nHead;
  const out = Buffer.alloc(data.length);
  for (let h = 0; h < nHead; h++)
    for (let s = 0; s < 2; s++)
      for (let k = 0; k < D / 2; k++) {
        const src = h * D + s * (D / 2) + k, dst = h * D + 2 * k + s;
        data.copy(out, dst * rowBytes, src * rowBytes, (src + 1) * rowBytes);
      }
  return out;
}

// Write a copy of inFile to outFile in which every tensor whose name passes
// select(name) holds fn(bytes, tensor, gguf) (a Buffer of the same length)
// instead of its bytes. Returns the names of the tensors changed.
export function patchTensors(inFile, outFile, select, fn) {
  const buf = fs.readFileSync(inFile);
  const g = parseGguf(buf);
  const changed = [];
  for (const t of g.tensors) {
    if (!select(t.name)) continue;
    const begin = g.dataStart + t.offset;
    fn(buf.subarray(begin, begin + t.nbytes), t, g).copy(buf, begin);
    changed.push(t.name);
  }
  fs.writeFileSync(outFile, buf);
  return changed;
}

// Write a copy of inFile to outFile with every blk.N.attn_q / attn_k tensor
// (weights and biases) un-permuted. Returns the names of the tensors changed.
const QK = /^blk\.\d+\.attn_([qk])\.(weight|bias)$/;
export function writeUnpermutedCopy(inFile, outFile) {
  return patchTensors(inFile, outFile, n => QK.test(n), (bytes, t, g) => {
    const arch = g.kv.get('general.architecture');
    const nHead = g.kv.get(`${arch}.attention.head_count`);
    const nKv = g.kv.get(`${arch}.attention.head_count_kv`) ?? nHead;
    const tt = GGML_TYPE[t.type];
    if (!tt) throw new Error(`${t.name}: unsupported type ${t.type}`);
    const rows = t.ne.length === 1 ? t.ne[0] : t.ne[1];
    const rowBytes = t.ne.length === 1 ? tt[2] : t.ne[0] * tt[2];
    return unpermuteRows(bytes, rows, rowBytes, QK.exec(t.name)[1] === 'q' ? nHead : nKv);
  });
}

// A copy of a GGUF with every BF16 tensor widened exactly to F32; KVs and
// tensor order kept, offsets recomputed (alignment 32).
export function writeWidenedF32(inFile, outFile) {
  const buf = fs.readFileSync(inFile), g = readGguf(inFile);
  const infoBytes = t => 8 + Buffer.byteLength(t.name) + 4 + 8 * t.ne.length + 4 + 8;
  const infoStart = g.headerEnd - g.tensors.reduce((s, t) => s + infoBytes(t), 0);
  const head = [buf.subarray(0, infoStart)], data = [];
  let off = 0;
  for (const t of g.tensors) {
    let d = buf.subarray(g.dataStart + t.offset, g.dataStart + t.offset + t.nbytes), type = t.type;
    if (type === 30) { // BF16 -> F32: the 16 bits become the high half
      const w = Buffer.alloc(d.length * 2);
      for (let i = 0; i < d.length / 2; i++) w.writeUInt32LE((d.readUInt16LE(2 * i) << 16) >>> 0, 4 * i);
      d = w;
      type = 0;
    }
    const info = Buffer.alloc(infoBytes(t));
    let p = info.writeBigUInt64LE(BigInt(Buffer.byteLength(t.name)), 0);
    p += info.write(t.name, p);
    p = info.writeUInt32LE(t.ne.length, p);
    for (const n of t.ne) p = info.writeBigUInt64LE(BigInt(n), p);
    p = info.writeUInt32LE(type, p);
    info.writeBigUInt64LE(BigInt(off), p);
    head.push(info);
    data.push(d, Buffer.alloc((32 - (d.length % 32)) % 32));
    off += Math.ceil(d.length / 32) * 32;
  }
  const h = Buffer.concat(head);
  fs.writeFileSync(outFile, Buffer.concat([h, Buffer.alloc((32 - (h.length % 32)) % 32), ...data]));
}

// Experts stacked in lexical order of their names (0, 1, 10, 11, 2, ...)
// instead of numeric order: the data of a stacked [E, ...] tensor t
// (ne[2] = E) reordered so.
export function lexicalExperts(bytes, t) {
  const E = t.ne[2], per = bytes.length / E, out = Buffer.alloc(bytes.length);
  const order = Array.from({ length: E }, (_, i) => String(i)).sort().map(Number);
  order.forEach((src, dst) => bytes.copy(out, dst * per, src * per, (src + 1) * per));
  return out;
}

// A copy of inFile in which the data of the tensors named a(i) and b(i),
// for every name a matches, are exchanged (one shape and size). Returns the
// number of pairs swapped.
export function writeSwappedCopy(inFile, outFile, re, other) {
  const buf = fs.readFileSync(inFile), g = parseGguf(buf);
  let n = 0;
  for (const t of g.tensors) {
    if (!re.test(t.name)) continue;
    const u = g.tensors.find(x => x.name === other(t.name));
    if (!u || u.nbytes !== t.nbytes) throw new Error(`${t.name}: no same-size ${other(t.name)}`);
    const a = g.dataStart + t.offset, b = g.dataStart + u.offset;
    const tmpA = Buffer.from(buf.subarray(a, a + t.nbytes));
    buf.copy(buf, a, b, b + t.nbytes);
    tmpA.copy(buf, b);
    n++;
  }
  fs.writeFileSync(outFile, buf);
  return n;
}

// Every element of a tensor set to the value v (F32, F16 or BF16 data).
export function filledWith(v) {
  return (bytes, t) => {
    const [name, , size] = GGML_TYPE[t.type];
    const out = Buffer.alloc(bytes.length);
    const f = new Float32Array([v]), u = new Uint32Array(f.buffer);
    for (let i = 0; i < bytes.length / size; i++) {
      if (name === 'F32') out.writeFloatLE(v, 4 * i);
      else if (name === 'BF16') out.writeUInt16LE(u[0] >>> 16, 2 * i);
      else out.writeUInt16LE(f16Bits(v), 2 * i);
    }
    return out;
  };
}

// F16 bits of a value exactly representable in F16 (0, 1, small integers).
function f16Bits(v) {
  if (v === 0) return 0;
  const e = Math.floor(Math.log2(Math.abs(v))), m = Math.abs(v) / 2 ** e - 1;
  return (v < 0 ? 0x8000 : 0) | ((e + 15) << 10) | Math.round(m * 1024);
}
