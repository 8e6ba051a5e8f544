// Minimal, independent JS HF-Llama -> GGUF converter used only to check the
// e2e harness itself (reference forward pass, llama.cpp loading, the negative
// control) without gguffs. All tensors are written as F32 (BF16/F16 values are
// exact in F32). Not a product: llama only, no validation.
//
//   node tests/e2e/js-convert.mjs HFDIR OUT.gguf

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadHfModel, ropeInvFreq } from './reference.mjs';
import { permuteRows } from './gguf.mjs';

const T = { U32: 4, I32: 5, F32: 6, BOOL: 7, STR: 8, ARR: 9 };

class W {
  constructor() { this.parts = []; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.parts.push(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.parts.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.parts.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.parts.push(b); }
  str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.parts.push(b); }
  kv(key, type, val, et) {
    this.str(key); this.u32(type);
    if (type === T.ARR) {
      this.u32(et); this.u64(val.length);
      for (const v of val) this.scalar(et, v);
    } else this.scalar(type, val);
  }
  scalar(t, v) {
    if (t === T.U32) this.u32(v); else if (t === T.I32) this.i32(v); else if (t === T.F32) this.f32(v);
    else if (t === T.STR) this.str(v); else if (t === T.BOOL) this.parts.push(Buffer.from([v ? 1 : 0]));
    else throw new Error(`type ${t}`);
  }
  buf() { return Buffer.concat(this.parts); }
}

function tokenizerKvs(dir) {
  const kvs = [];
  if (fs.existsSync(path.join(dir, 'tokenizer.model')) && !fs.existsSync(path.join(dir, 'tokenizer.json'))) {
    const pieces = readSpm(fs.readFileSync(path.join(dir, 'tokenizer.model')));
    kvs.push(['tokenizer.ggml.model', T.STR, 'llama'], ['tokenizer.ggml.pre', T.STR, 'default'],
      ['tokenizer.ggml.tokens', T.ARR, pieces.map(p => p.piece), T.STR],
      ['tokenizer.ggml.scores', T.ARR, pieces.map(p => p.score), T.F32],
      ['tokenizer.ggml.token_type', T.ARR, pieces.map(p => p.type), T.I32],
      ['tokenizer.ggml.bos_token_id', T.U32, 1], ['tokenizer.ggml.eos_token_id', T.U32, 2],
      ['tokenizer.ggml.unknown_token_id', T.U32, 0],
      ['tokenizer.ggml.add_bos_token', T.BOOL, true], ['tokenizer.ggml.add_eos_token', T.BOOL, false]);
    return kvs;
  }
  const tj = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  const vocab = tj.model.vocab;
  let n = 0;
  for (const id of Object.values(vocab)) n = Math.max(n, id + 1);
  for (const t of tj.added_tokens) n = Math.max(n, t.id + 1);
  const tokens = new Array(n).fill(null), types = new Array(n).fill(1);
  for (const [k, id] of Object.entries(vocab)) tokens[id] = k;
  for (const t of tj.added_tokens) { tokens[t.id] = t.content; types[t.id] = t.special ? 3 : 4; }
  for (let i = 0; i < n; i++) if (tokens[i] === null) { tokens[i] = `[PAD${i}]`; types[i] = 5; }
  const merges = tj.model.merges.map(m => (Array.isArray(m) ? m.join(' ') : m));
  kvs.push(['tokenizer.ggml.model', T.STR, 'gpt2'], ['tokenizer.ggml.pre', T.STR, 'llama-bpe'],
    ['tokenizer.ggml.tokens', T.ARR, tokens, T.STR], ['tokenizer.ggml.token_type', T.ARR, types, T.I32],
    ['tokenizer.ggml.merges', T.ARR, merges, T.STR],
    ['tokenizer.ggml.bos_token_id', T.U32, 128000], ['tokenizer.ggml.eos_token_id', T.U32, 128001]);
  return kvs;
}

// sentencepiece ModelProto pieces (field 1 -> {1 piece, 2 score, 3 type})
function readSpm(buf) {
  let pos = 0;
  const varint = () => { let r = 0n, s = 0n, b; do { b = buf[pos++]; r |= BigInt(b & 0x7f) << s; s += 7n; } while (b & 0x80); return Number(r); };
  const out = [];
  while (pos < buf.length) {
    const key = varint(), f = key >> 3, wt = key & 7;
    if (wt === 2) {
      const len = varint(), end = pos + len;
      if (f === 1) {
        const p = { piece: '', score: 0, type: 1 };
        while (pos < end) {
          const k = varint(), ff = k >> 3, w = k & 7;
          if (w === 2) { const l = varint(); if (ff === 1) p.piece = buf.toString('utf8', pos, pos + l); pos += l; }
          else if (w === 5) { if (ff === 2) p.score = buf.readFloatLE(pos); pos += 4; }
          else if (w === 0) { const v = varint(); if (ff === 3) p.type = v; }
          else if (w === 1) pos += 8;
        }
        out.push(p);
      }
      pos = end;
    } else if (wt === 0) varint(); else if (wt === 5) pos += 4; else if (wt === 1) pos += 8;
    else throw new Error('bad wire type');
  }
  return out;
}

export function jsConvert(hfDir, outFile) {
  const m = loadHfModel(hfDir);
  const c = m.config;
  const H = c.hidden_size, nh = c.num_attention_heads, nkv = c.num_key_value_heads ?? nh;
  const hd = c.head_dim ?? H / nh;
  const kvs = [
    ['general.architecture', T.STR, 'llama'], ['general.name', T.STR, 'js-convert'],
    ['llama.vocab_size', T.U32, c.vocab_size], ['llama.context_length', T.U32, c.max_position_embeddings],
    ['llama.embedding_length', T.U32, H], ['llama.block_count', T.U32, c.num_hidden_layers],
    ['llama.feed_forward_length', T.U32, c.intermediate_size], ['llama.rope.dimension_count', T.U32, hd],
    ['llama.attention.head_count', T.U32, nh], ['llama.attention.head_count_kv', T.U32, nkv],
    ['llama.attention.layer_norm_rms_epsilon', T.F32, c.rms_norm_eps], ['llama.rope.freq_base', T.F32, c.rope_theta],
    ['llama.attention.key_length', T.U32, hd], ['llama.attention.value_length', T.U32, hd],
    ['general.file_type', T.U32, 0],
    ...tokenizerKvs(hfDir),
  ];
  const rename = n => n.replace('model.embed_tokens', 'token_embd').replace('lm_head', 'output')
    .replace('model.norm', 'output_norm').replace('model.layers', 'blk').replace('input_layernorm', 'attn_norm')
    .replace('self_attn.q_proj', 'attn_q').replace('self_attn.k_proj', 'attn_k').replace('self_attn.v_proj', 'attn_v')
    .replace('self_attn.o_proj', 'attn_output').replace('mlp.gate_proj', 'ffn_gate').replace('mlp.up_proj', 'ffn_up')
    .replace('mlp.down_proj', 'ffn_down').replace('post_attention_layernorm', 'ffn_norm');
  const tensors = [];
  const rs = c.rope_scaling;
  if (rs && (rs.rope_type ?? rs.type) === 'llama3') {
    const base = ropeInvFreq({ ...c, rope_scaling: null }), scaled = ropeInvFreq(c);
    tensors.push({ name: 'rope_freqs.weight', shape: [hd / 2], data: Float64Array.from(base, (v, i) => v / scaled[i]) });
  }
  for (const name of m.index.keys()) {
    if (name.endsWith('rotary_emb.inv_freq')) continue;
    let data = m.get(name);
    const shape = m.shape(name);
    const f = Buffer.alloc(data.length * 4);
    for (let i = 0; i < data.length; i++) f.writeFloatLE(data[i], i * 4);
    let buf = f;
    const qk = /self_attn\.([qk])_proj\./.exec(name);
    if (qk) {
      const rows = shape[0], rowBytes = shape.length === 1 ? 4 : shape[1] * 4;
      buf = permuteRows(f, rows, rowBytes, qk[1] === 'q' ? nh : nkv);
    }
    tensors.push({ name: rename(name), shape, buf });
  }
  const w = new W();
  w.parts.push(Buffer.from('GGUF'));
  w.u32(3); w.u64(tensors.length); w.u64(kvs.length);
  for (const [k, t, v, et] of kvs) w.kv(k, t, v, et);
  let off = 0;
  for (const t of tensors) {
    if (!t.buf) { t.buf = Buffer.alloc(t.data.length * 4); t.data.forEach((v, i) => t.buf.writeFloatLE(v, i * 4)); }
    w.str(t.name); w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(d);
    w.u32(0); w.u64(off);
    t.off = off;
    off += Math.ceil(t.buf.length / 32) * 32;
  }
  let head = w.buf();
  const pad = Buffer.alloc(Math.ceil(head.length / 32) * 32 - head.length);
  const fd = fs.openSync(outFile, 'w');
  fs.writeSync(fd, head); fs.writeSync(fd, pad);
  for (const t of tensors) {
    fs.writeSync(fd, t.buf);
    const p = Math.ceil(t.buf.length / 32) * 32 - t.buf.length;
    if (p) fs.writeSync(fd, Buffer.alloc(p));
  }
  fs.closeSync(fd);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  jsConvert(process.argv[2], process.argv[3]);
}
