// End-to-end: the tiny Llama 4 fixture (tests/fixtures/make-llama4.mjs) ->
// gguffs-convert (profile llamacpp) and the gguffs mount -> real llama.cpp
// (node-llama-cpp, CPU prebuilt) -> next-token logits, compared with an
// independent float64 forward pass of the HF text model written below from
// transformers' modeling_llama4.py semantics:
//   - rope on adjacent pairs (view_as_complex of (..., -1, 2)), llama3 scaling,
//     skipped on NoPE layers (text_config.no_rope_layers[l] == 0);
//   - qk norm (L2 norm without weight, rms_norm_eps) on rope layers only, when
//     use_qk_norm;
//   - attention temperature tuning on NoPE layers: q *= log1p(floor((pos+1) /
//     floor_scale)) * attn_scale + 1 (exactly 1 below floor_scale = 8192
//     positions, as in llama.cpp, but computed anyway);
//   - chunked attention on chunked layers (no effect below 8192 tokens);
//   - MoE on layers with (l+1) % interleave_moe_layer_step == 0: router logits,
//     top-k, sigmoid of the top logits scales the expert INPUT, experts use the
//     fused gate_up_proj [E, hidden, 2I] as x @ W (first half gate, second up),
//     down_proj [E, I, hidden], plus the shared expert; dense MLP elsewhere.
//
// Tolerance. Weights are BF16 with projections std 0.15 (logits reach ~|18|).
// ggml multiplies BF16 weights by activations it first rounds to BF16 (8-bit
// mantissa), so the BF16 model.gguf as converted agrees with the float64
// reference only to ~0.1 (measured 0.11), whatever the converter does. To pin
// the converter tightly, the same converted bytes are also widened exactly to
// F32 (every value and the whole layout unchanged, only the element type) and
// must agree to TOL (measured 0.006: llama.cpp's f16 KV cache and f32
// arithmetic). Swapping the experts' gate and up halves (the negative control,
// made by patching the converted GGUF) moves the logits by ~1.4, far above
// REJECT, in both forms. Measured values are printed as test diagnostics.
//
// Env: GGUFFS_BUILD (default <repo>/build), GGUFFS_FIXTURES (default
// <repo>/tests/fixtures/out; a missing fixture is generated).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadHfModel, ropeInvFreq } from './reference.mjs';
import { readGguf, writeWidenedF32, writeSwappedCopy } from './gguf.mjs';
import { BUILD, FIXTURES, CONVERT, GGUFFS, run, convertModel, ensureFixtures, makeTmp, removeTmp, xorshift32,
  startLlama, fileLogits, compareLogits as compare, assertMatches, assertRejected as assertRejectedBeyond,
  mountGguffs, unmountGguffs } from './harness.mjs';

const FIXTURE = 'llama4-tiny';
const HFDIR = path.join(FIXTURES, FIXTURE);

const TOL = 0.03;       // widened F32 copy of the converted file
const TOL_BF16 = 0.3;   // the converted BF16 file itself
const REJECT = 0.5;
const PROMPT_LEN = 128;

// ------------------------------------------------ reference forward pass ----
function matvec(W, x, rows, cols) {
  const y = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    let s = 0;
    const base = o * cols;
    for (let i = 0; i < cols; i++) s += W[base + i] * x[i];
    y[o] = s;
  }
  return y;
}
// y[j] = sum_i x[i] W[i, j] (x @ W, W [rows, cols] row-major), columns [c0, c0+n)
function vecmat(x, W, rows, cols, c0, n) {
  const y = new Float64Array(n);
  for (let i = 0; i < rows; i++) {
    const xi = x[i], base = i * cols + c0;
    for (let j = 0; j < n; j++) y[j] += xi * W[base + j];
  }
  return y;
}
function rmsnorm(x, w, eps) {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return Float64Array.from(x, (v, i) => v * r * (w ? w[i] : 1));
}
const silu = x => x / (1 + Math.exp(-x));
const sigmoid = x => 1 / (1 + Math.exp(-x));

// HF apply_rotary_emb: pairs (2i, 2i+1) rotated by pos * inv[i].
function ropePairs(v, nHeads, hd, pos, inv) {
  for (let h = 0; h < nHeads; h++)
    for (let i = 0; i < hd / 2; i++) {
      const a = pos * inv[i], c = Math.cos(a), s = Math.sin(a);
      const o = h * hd + 2 * i, x0 = v[o], x1 = v[o + 1];
      v[o] = x0 * c - x1 * s;
      v[o + 1] = x0 * s + x1 * c;
    }
}
function headNorm(v, nHeads, hd, eps) {
  for (let h = 0; h < nHeads; h++) v.set(rmsnorm(v.subarray(h * hd, (h + 1) * hd), null, eps), h * hd);
}

function mlp(m, p, x, I, H) {
  const g = matvec(m.get(p + 'gate_proj.weight'), x, I, H), u = matvec(m.get(p + 'up_proj.weight'), x, I, H);
  for (let i = 0; i < I; i++) g[i] = silu(g[i]) * u[i];
  return matvec(m.get(p + 'down_proj.weight'), g, H, I);
}

// Llama4TextMoe: router top-k, sigmoid(top logits) scales each expert's input.
function moe(m, p, x, c) {
  const H = c.hidden_size, E = c.num_local_experts, I = c.intermediate_size;
  const logits = matvec(m.get(p + 'router.weight'), x, E, H);
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, c.num_experts_per_tok);
  const out = mlp(m, p + 'shared_expert.', x, I, H);
  const gu = m.get(p + 'experts.gate_up_proj'), down = m.get(p + 'experts.down_proj');
  for (const e of order) {
    const s = sigmoid(logits[e]);
    const xin = Float64Array.from(x, v => v * s);
    const W = gu.subarray(e * H * 2 * I, (e + 1) * H * 2 * I);
    const gate = vecmat(xin, W, H, 2 * I, 0, I), up = vecmat(xin, W, H, 2 * I, I, I);
    for (let i = 0; i < I; i++) gate[i] = silu(gate[i]) * up[i];
    const y = vecmat(gate, down.subarray(e * I * H, (e + 1) * I * H), I, H, 0, H);
    for (let i = 0; i < H; i++) out[i] += y[i];
  }
  return out;
}

function llama4LastLogits(m, tokens) {
  const c = m.config.text_config;
  const H = c.hidden_size, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const hd = c.head_dim ?? H / nh, L = c.num_hidden_layers, eps = c.rms_norm_eps, T = tokens.length;
  const inv = ropeInvFreq(c), group = nh / nkv;
  const emb = m.get('language_model.model.embed_tokens.weight');
  const V = m.shape('language_model.model.embed_tokens.weight')[0];
  let xs = tokens.map(t => Float64Array.from(emb.subarray(t * H, (t + 1) * H)));
  for (let l = 0; l < L; l++) {
    const p = `language_model.model.layers.${l}.`;
    const useRope = !!c.no_rope_layers[l];
    const chunk = c.layer_types?.[l] === 'chunked_attention' ? c.attention_chunk_size : Infinity;
    const Q = [], K = [], Vv = [];
    for (let t = 0; t < T; t++) {
      const h = rmsnorm(xs[t], m.get(p + 'input_layernorm.weight'), eps);
      const q = matvec(m.get(p + 'self_attn.q_proj.weight'), h, nh * hd, H);
      const k = matvec(m.get(p + 'self_attn.k_proj.weight'), h, nkv * hd, H);
      const v = matvec(m.get(p + 'self_attn.v_proj.weight'), h, nkv * hd, H);
      if (useRope) { ropePairs(q, nh, hd, t, inv); ropePairs(k, nkv, hd, t, inv); }
      if (useRope && c.use_qk_norm) { headNorm(q, nh, hd, eps); headNorm(k, nkv, hd, eps); }
      if (!useRope && c.attn_temperature_tuning) {
        const sc = Math.log1p(Math.floor((t + 1) / c.floor_scale)) * c.attn_scale + 1;
        for (let i = 0; i < q.length; i++) q[i] *= sc;
      }
      Q.push(q); K.push(k); Vv.push(v);
    }
    const next = [];
    for (let t = 0; t < T; t++) {
      const att = new Float64Array(nh * hd);
      const u0 = Number.isFinite(chunk) ? Math.floor(t / chunk) * chunk : 0;
      for (let h = 0; h < nh; h++) {
        const g = Math.floor(h / group), sc = [];
        let mx = -Infinity;
        for (let u = u0; u <= t; u++) {
          let s = 0;
          for (let i = 0; i < hd; i++) s += Q[t][h * hd + i] * K[u][g * hd + i];
          s /= Math.sqrt(hd);
          sc.push(s);
          mx = Math.max(mx, s);
        }
        let sum = 0;
        for (let j = 0; j < sc.length; j++) { sc[j] = Math.exp(sc[j] - mx); sum += sc[j]; }
        for (let j = 0; j < sc.length; j++)
          for (let i = 0; i < hd; i++) att[h * hd + i] += (sc[j] / sum) * Vv[u0 + j][g * hd + i];
      }
      const o = matvec(m.get(p + 'self_attn.o_proj.weight'), att, H, nh * hd);
      const x = Float64Array.from(xs[t], (v, i) => v + o[i]);
      const h2 = rmsnorm(x, m.get(p + 'post_attention_layernorm.weight'), eps);
      const f = (l + 1) % c.interleave_moe_layer_step === 0
        ? moe(m, p + 'feed_forward.', h2, c)
        : mlp(m, p + 'feed_forward.', h2, c.intermediate_size_mlp, H);
      for (let i = 0; i < H; i++) x[i] += f[i];
      next.push(x);
    }
    xs = next;
  }
  const hN = rmsnorm(xs[T - 1], m.get('language_model.model.norm.weight'), eps);
  return matvec(m.get('language_model.lm_head.weight'), hN, V, H);
}

// ------------------------------------------------------------ harness ----
let tmp, llama, ref, tokens, conv, mmproj;

const llamaLogits = (file, V) => fileLogits(llama, file, tokens, V, { contextSize: 512 });
const assertRejected = (r, what) => assertRejectedBeyond(r, what, REJECT);

// Deterministic prompt: BOS then pseudo-random normal tokens.
function promptTokens() {
  const out = [128000];
  let x = 0x1234567;
  while (out.length < PROMPT_LEN) {
    x = xorshift32(x);
    out.push(x % 128000);
  }
  return out;
}

// A copy of a converted GGUF with each MoE layer's ffn_gate_exps and
// ffn_up_exps data swapped: the fused tensor split the wrong way round.
const writeSwappedGateUp = (inFile, outFile) =>
  writeSwappedCopy(inFile, outFile, /^blk\.\d+\.ffn_gate_exps\.weight$/, n => n.replace('gate_exps', 'up_exps'));

before(async () => {
  assert.ok(fs.existsSync(CONVERT), `no gguffs-convert in ${BUILD}`);
  ensureFixtures('make-llama4.mjs', [FIXTURE]);
  tmp = makeTmp('gguffs-e2e-l4-');
  conv = path.join(tmp, 'l4.gguf');
  mmproj = path.join(tmp, 'l4-mmproj.gguf');
  convertModel(HFDIR, 'profile=llamacpp', conv);
  const hf = loadHfModel(HFDIR);
  tokens = promptTokens();
  ref = llama4LastLogits(hf, tokens);
  llama = await startLlama();
});

after(async () => {
  if (llama) await llama.dispose();
  removeTmp(tmp);
});

test('model.gguf holds only the text tower, mmproj.gguf the vision tower', () => {
  const g = readGguf(conv);
  assert.equal(g.kv.get('general.architecture'), 'llama4');
  assert.ok(!g.tensors.some(t => /^(v|mm)\./.test(t.name)), 'vision tensors in the text model');
  for (const n of ['blk.1.ffn_gate_exps.weight', 'blk.1.ffn_up_exps.weight', 'blk.1.ffn_down_exps.weight',
    'blk.1.ffn_gate_inp.weight', 'blk.1.ffn_gate_shexp.weight', 'blk.0.ffn_gate.weight', 'rope_freqs.weight'])
    assert.ok(g.tensors.some(t => t.name === n), `missing ${n}`);
  assert.ok(fs.existsSync(mmproj), 'no mmproj written beside the model');
});

// Every key and tensor tools/mtmd/clip.cpp (load_hparams, load_tensors) reads
// as required for PROJECTOR_TYPE_LLAMA4, plus those the graph uses.
test('mmproj.gguf parses with gguffs-inspect and has what clip.cpp needs for llama4', () => {
  const r = run(path.join(BUILD, 'gguffs-inspect'), ['--json', mmproj]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const kv = new Map(j.kv.map(k => [k.key, k]));
  const want = {
    'general.architecture': ['STRING', 'clip'], 'general.type': ['STRING', 'mmproj'],
    'clip.projector_type': ['STRING', 'llama4'], 'clip.has_vision_encoder': ['BOOL', true],
    'clip.use_gelu': ['BOOL', true], 'clip.vision.embedding_length': ['UINT32', 32],
    'clip.vision.attention.head_count': ['UINT32', 2], 'clip.vision.feed_forward_length': ['UINT32', 128],
    'clip.vision.block_count': ['UINT32', 2], 'clip.vision.projection_dim': ['UINT32', 64],
    'clip.vision.image_size': ['UINT32', 32], 'clip.vision.patch_size': ['UINT32', 8],
    'clip.vision.projector.scale_factor': ['UINT32', 2],
  };
  for (const [k, [type, value]] of Object.entries(want)) {
    assert.ok(kv.has(k), `missing ${k}`);
    assert.equal(kv.get(k).type, type, k);
    assert.equal(kv.get(k).value, value, k);
  }
  assert.equal(kv.get('clip.vision.attention.layer_norm_epsilon').type, 'FLOAT32');
  const pp = JSON.parse(fs.readFileSync(path.join(HFDIR, 'preprocessor_config.json'), 'utf8'));
  for (const k of ['image_mean', 'image_std']) {
    const v = kv.get(`clip.vision.${k}`);
    assert.equal(v.elem_type, 'FLOAT32');
    assert.deepEqual(v.value, pp[k].map(x => Math.fround(x)), k);
  }
  const names = new Set(j.tensors.map(t => t.name));
  const need = ['mm.model.fc.weight', 'mm.model.mlp.1.weight', 'mm.model.mlp.2.weight', 'v.patch_embd.weight',
    'v.class_embd', 'v.position_embd.weight', 'v.pre_ln.weight', 'v.pre_ln.bias', 'v.post_ln.weight', 'v.post_ln.bias'];
  for (let l = 0; l < 2; l++)
    for (const s of ['attn_q', 'attn_k', 'attn_v', 'attn_out', 'ffn_up', 'ffn_down', 'ln1', 'ln2'])
      for (const x of ['weight', 'bias']) need.push(`v.blk.${l}.${s}.${x}`);
  for (const n of need) assert.ok(names.has(n), `mmproj lacks ${n}`);
  assert.equal(names.size, need.length, `unexpected tensors: ${[...names].filter(n => !need.includes(n))}`);
  const t = j.tensors.find(x => x.name === 'v.position_embd.weight');
  assert.equal(t.type, 'F32');
  assert.deepEqual(t.dims, [32, 17]);
  assert.deepEqual(j.tensors.find(x => x.name === 'v.patch_embd.weight').dims, [192, 32]);
});

describe('llama.cpp logits', () => {
  test('converted model.gguf (BF16) matches the float64 reference', async (t) => {
    const r = compare(await llamaLogits(conv, ref.length), ref);
    t.diagnostic(`llama4 converted BF16: max|logit diff| ${r.maxDiff.toFixed(5)} (max|ref| ${r.maxRef.toFixed(2)}), argmax ${r.argmaxGot}/${r.argmaxRef}`);
    assertMatches(r, 'llama4 converted BF16', TOL_BF16);
  });

  test('converted model.gguf widened to F32 matches the reference tightly', async (t) => {
    const wide = path.join(tmp, 'l4-f32.gguf');
    writeWidenedF32(conv, wide);
    const r = compare(await llamaLogits(wide, ref.length), ref);
    t.diagnostic(`llama4 converted, F32-widened: max|logit diff| ${r.maxDiff.toFixed(5)}, argmax ${r.argmaxGot}/${r.argmaxRef}`);
    assertMatches(r, 'llama4 F32-widened', TOL);
  });

  test('negative control: gate/up halves swapped is rejected', async (t) => {
    const bad = path.join(tmp, 'l4-swapped.gguf'), badWide = path.join(tmp, 'l4-swapped-f32.gguf');
    assert.equal(writeSwappedGateUp(conv, bad), 2);
    writeWidenedF32(bad, badWide);
    for (const [file, what] of [[bad, 'BF16'], [badWide, 'F32-widened']]) {
      const r = compare(await llamaLogits(file, ref.length), ref);
      t.diagnostic(`llama4 NEGATIVE (gate/up swapped, ${what}): max|logit diff| ${r.maxDiff.toFixed(5)}, argmax ${r.argmaxGot}/${r.argmaxRef}`);
      assertRejected(r, `gate/up swapped, ${what}`);
    }
  });
});

// ---------------------------------------------------------------- mount ----
describe('mount', () => {
  let mounted, mnt;

  before(async () => {
    assert.ok(fs.existsSync(GGUFFS), `no ${GGUFFS}`);
    mounted = await mountGguffs(tmp, HFDIR, { timeoutMs: 20000 });
    mnt = mounted.mnt;
  });

  after(async () => {
    if (mounted) await unmountGguffs(mounted);
  });

  test('mounted files equal the converted files', () => {
    for (const [name, file] of [['model.gguf', conv], ['mmproj.gguf', mmproj]]) {
      const a = fs.readFileSync(path.join(mnt, name)), b = fs.readFileSync(file);
      assert.equal(a.length, b.length, `${name} size`);
      assert.ok(a.equals(b), `${name} differs from gguffs-convert's output`);
    }
  });

  test('mounted model.gguf matches the float64 reference in llama.cpp', async (t) => {
    const r = compare(await llamaLogits(path.join(mnt, 'model.gguf'), ref.length), ref);
    t.diagnostic(`llama4 mounted: max|logit diff| ${r.maxDiff.toFixed(5)}, argmax ${r.argmaxGot}/${r.argmaxRef}`);
    assertMatches(r, 'llama4 mounted', TOL_BF16);
  });

  test('random ranges of transposed expert tensors, 8 threads', async () => {
    const g = readGguf(conv);
    const spans = g.tensors.filter(t => /_exps\.weight$/.test(t.name))
      .map(t => [g.dataStart + t.offset, t.nbytes]);
    assert.equal(spans.length, 6);
    const code = `
      const { workerData: w, parentPort } = require('node:worker_threads');
      const fs = require('node:fs');
      const a = fs.openSync(w.mounted, 'r'), b = fs.openSync(w.converted, 'r');
      let x = w.seed >>> 0, bad = 0, bytes = 0;
      const rnd = n => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
      for (let i = 0; i < w.reads; i++) {
        const [start, size] = w.spans[rnd(w.spans.length)];
        const off = start + rnd(size), len = 1 + rnd(Math.min(size, start + size - off + 64));
        const ba = Buffer.alloc(len), bb = Buffer.alloc(len);
        const na = fs.readSync(a, ba, 0, len, off), nb = fs.readSync(b, bb, 0, len, off);
        if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) bad++;
        bytes += na;
      }
      fs.closeSync(a); fs.closeSync(b); // an open file keeps the mount busy
      parentPort.postMessage({ bad, bytes });`;
    const results = await Promise.all(Array.from({ length: 8 }, (_, k) => new Promise((res, rej) => {
      const wk = new Worker(code, { eval: true, workerData: { mounted: path.join(mnt, 'model.gguf'), converted: conv,
        spans, reads: 300, seed: 0x9e3779b9 ^ (k * 7919 + 1) } });
      wk.once('message', res);
      wk.once('error', rej);
    })));
    const bad = results.reduce((s, r) => s + r.bad, 0), bytes = results.reduce((s, r) => s + r.bytes, 0);
    assert.ok(bytes > 100000, `read only ${bytes} bytes`);
    assert.equal(bad, 0, `${bad} of 2400 ranges differ between the mount and the converted file`);
  });
});
