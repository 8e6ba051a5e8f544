// Independent float64 reference forward pass of a HuggingFace LlamaForCausalLM,
// read straight from the model directory's *.safetensors files. It shares no
// code with gguffs: its own safetensors reader, dtype decoding, and the
// transformers modeling_llama math (rotate_half RoPE, llama3 rope scaling as
// in _compute_llama3_parameters, GQA, SwiGLU, RMSNorm).
//
//   const m = loadHfModel(dir); const logits = forwardLastLogits(m, tokenIds);

import fs from 'node:fs';
import path from 'node:path';

// ------------------------------------------------------------ decoding ----
function bf16ToF64(bits) {
  const b = new DataView(new ArrayBuffer(4));
  b.setUint32(0, bits << 16, true);
  return b.getFloat32(0, true);
}
export function f16ToF64(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function readSafetensorsHeader(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n <= 0 || n > 100e6) throw new Error(`${file}: bad header length ${n}`);
    const hb = Buffer.alloc(n);
    fs.readSync(fd, hb, 0, n, 8);
    return { header: JSON.parse(hb.toString('utf8')), dataStart: 8 + n };
  } finally { fs.closeSync(fd); }
}

function decode(buf, dtype, count) {
  const out = new Float64Array(count);
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) out[i] = buf.readFloatLE(i * 4);
  } else if (dtype === 'F16') {
    for (let i = 0; i < count; i++) out[i] = f16ToF64(buf.readUInt16LE(i * 2));
  } else if (dtype === 'BF16') {
    const f = new Float32Array(1), u = new Uint32Array(f.buffer);
    for (let i = 0; i < count; i++) { u[0] = buf.readUInt16LE(i * 2) << 16; out[i] = f[0]; }
  } else if (dtype === 'U8') {
    for (let i = 0; i < count; i++) out[i] = buf[i];
  } else if (dtype === 'F64') {
    for (let i = 0; i < count; i++) out[i] = buf.readDoubleLE(i * 8);
  } else throw new Error(`unsupported dtype ${dtype}`);
  return out;
}
const DSIZE = { F32: 4, F16: 2, BF16: 2, F64: 8, U8: 1 };

// ---------------------------------------------------------- the model ----
export function loadHfModel(dir) {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const files = fs.readdirSync(dir).filter(f => f.endsWith('.safetensors')).sort();
  if (!files.length) throw new Error(`${dir}: no safetensors`);
  const index = new Map(); // name -> {file, dtype, shape, begin, end}
  for (const f of files) {
    const full = path.join(dir, f);
    const { header, dataStart } = readSafetensorsHeader(full);
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      if (index.has(name)) throw new Error(`duplicate tensor ${name}`);
      index.set(name, { file: full, dtype: info.dtype, shape: info.shape,
        begin: dataStart + info.data_offsets[0], end: dataStart + info.data_offsets[1] });
    }
  }
  const cache = new Map();
  const fileBufs = new Map();
  function get(name) {
    if (cache.has(name)) return cache.get(name);
    const t = index.get(name);
    if (!t) throw new Error(`tensor ${name} not found`);
    if (!fileBufs.has(t.file)) fileBufs.set(t.file, fs.readFileSync(t.file));
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.end - t.begin !== count * DSIZE[t.dtype]) throw new Error(`${name}: size mismatch`);
    const v = decode(fileBufs.get(t.file).subarray(t.begin, t.end), t.dtype, count);
    v.shape = t.shape;
    cache.set(name, v);
    return v;
  }
  return { config, dir, index, has: n => index.has(n), get, shape: n => index.get(n).shape };
}

// HF transformers ROPE_INIT_FUNCTIONS: default and llama3.
export function ropeInvFreq(config) {
  const H = config.hidden_size, nh = config.num_attention_heads;
  const hd = config.head_dim ?? H / nh;
  const theta = config.rope_theta ?? 10000;
  const inv = new Float64Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) inv[i] = 1 / Math.pow(theta, (2 * i) / hd);
  const rs = config.rope_scaling;
  const type = rs ? (rs.rope_type ?? rs.type) : null;
  if (type === 'llama3') {
    const factor = rs.factor, lo = rs.low_freq_factor, hi = rs.high_freq_factor;
    const old = rs.original_max_position_embeddings;
    const lowWl = old / lo, highWl = old / hi;
    for (let i = 0; i < inv.length; i++) {
      const wl = 2 * Math.PI / inv[i];
      let v = wl > lowWl ? inv[i] / factor : inv[i];
      if (!(wl < highWl) && !(wl > lowWl)) {
        const s = (old / wl - lo) / (hi - lo);
        v = (1 - s) * v / factor + s * v;
      }
      inv[i] = v;
    }
  } else if (type === 'linear') {
    for (let i = 0; i < inv.length; i++) inv[i] /= rs.factor;
  } else if (type && type !== 'default') {
    throw new Error(`reference: rope type ${type} not implemented`);
  }
  return inv;
}

// y[o] = sum_i W[o, i] x[i] (+ b[o])
export function matvec(W, x, rows, cols, b) {
  const y = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    let s = 0;
    const base = o * cols;
    for (let i = 0; i < cols; i++) s += W[base + i] * x[i];
    y[o] = b ? s + b[o] : s;
  }
  return y;
}

export function rmsnorm(x, w, eps) {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const r = 1 / Math.sqrt(ss / x.length + eps);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * r * w[i];
  return y;
}

// HF apply_rotary_pos_emb with rotate_half, in place, on nHeads heads of hd.
function applyRope(v, nHeads, hd, pos, inv) {
  const half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    const o = h * hd;
    for (let i = 0; i < half; i++) {
      const ang = pos * inv[i];
      const c = Math.cos(ang), s = Math.sin(ang);
      const x1 = v[o + i], x2 = v[o + i + half];
      v[o + i] = x1 * c - x2 * s;
      v[o + i + half] = x2 * c + x1 * s;
    }
  }
}

const silu = x => x / (1 + Math.exp(-x));

// Logits (Float64Array of vocab_size) of the last position after feeding tokens.
export function forwardLastLogits(m, tokens) {
  const c = m.config;
  const H = c.hidden_size, nh = c.num_attention_heads, nkv = c.num_key_value_heads ?? nh;
  const hd = c.head_dim ?? H / nh, I = c.intermediate_size, L = c.num_hidden_layers;
  const eps = c.rms_norm_eps, V = m.shape('model.embed_tokens.weight')[0];
  const inv = ropeInvFreq(c);
  const group = nh / nkv;
  const T = tokens.length;
  const emb = m.get('model.embed_tokens.weight');
  let xs = tokens.map(t => {
    if (!(t >= 0 && t < V)) throw new Error(`token ${t} out of range`);
    return Float64Array.from(emb.subarray(t * H, (t + 1) * H));
  });
  const opt = n => (m.has(n) ? m.get(n) : undefined);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    const wq = m.get(p + 'self_attn.q_proj.weight'), wk = m.get(p + 'self_attn.k_proj.weight');
    const wv = m.get(p + 'self_attn.v_proj.weight'), wo = m.get(p + 'self_attn.o_proj.weight');
    const bq = opt(p + 'self_attn.q_proj.bias'), bk = opt(p + 'self_attn.k_proj.bias');
    const bv = opt(p + 'self_attn.v_proj.bias'), bo = opt(p + 'self_attn.o_proj.bias');
    const n1 = m.get(p + 'input_layernorm.weight'), n2 = m.get(p + 'post_attention_layernorm.weight');
    const Q = [], K = [], Vv = [];
    for (let t = 0; t < T; t++) {
      const h = rmsnorm(xs[t], n1, eps);
      const q = matvec(wq, h, nh * hd, H, bq), k = matvec(wk, h, nkv * hd, H, bk), v = matvec(wv, h, nkv * hd, H, bv);
      applyRope(q, nh, hd, t, inv);
      applyRope(k, nkv, hd, t, inv);
      Q.push(q); K.push(k); Vv.push(v);
    }
    const scale = 1 / Math.sqrt(hd);
    const next = [];
    for (let t = 0; t < T; t++) {
      const att = new Float64Array(nh * hd);
      for (let h = 0; h < nh; h++) {
        const g = Math.floor(h / group);
        const sc = new Float64Array(t + 1);
        let mx = -Infinity;
        for (let u = 0; u <= t; u++) {
          let s = 0;
          for (let i = 0; i < hd; i++) s += Q[t][h * hd + i] * K[u][g * hd + i];
          sc[u] = s * scale;
          if (sc[u] > mx) mx = sc[u];
        }
        let sum = 0;
        for (let u = 0; u <= t; u++) { sc[u] = Math.exp(sc[u] - mx); sum += sc[u]; }
        for (let u = 0; u <= t; u++) {
          const w = sc[u] / sum;
          for (let i = 0; i < hd; i++) att[h * hd + i] += w * Vv[u][g * hd + i];
        }
      }
      const o = matvec(wo, att, H, nh * hd, bo);
      const x = new Float64Array(H);
      for (let i = 0; i < H; i++) x[i] = xs[t][i] + o[i];
      const h2 = rmsnorm(x, n2, eps);
      const gt = matvec(m.get(p + 'mlp.gate_proj.weight'), h2, I, H);
      const up = matvec(m.get(p + 'mlp.up_proj.weight'), h2, I, H);
      for (let i = 0; i < I; i++) gt[i] = silu(gt[i]) * up[i];
      const d = matvec(m.get(p + 'mlp.down_proj.weight'), gt, H, I);
      for (let i = 0; i < H; i++) x[i] += d[i];
      next.push(x);
    }
    xs = next;
  }
  const hN = rmsnorm(xs[T - 1], m.get('model.norm.weight'), eps);
  const head = m.has('lm_head.weight') && !c.tie_word_embeddings ? m.get('lm_head.weight') : emb;
  return matvec(head, hN, V, H);
}

export function argmax(a) {
  let bi = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[bi]) bi = i;
  return bi;
}
export function topk(a, k) {
  return Array.from(a.keys()).sort((x, y) => a[y] - a[x]).slice(0, k);
}
