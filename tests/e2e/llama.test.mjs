// End-to-end: HF Llama fixture -> gguffs-convert -> real llama.cpp (node-llama-cpp,
// CPU prebuilt) -> next-token logits, compared with an independent float64
// reference forward pass read straight from the safetensors (reference.mjs).
//
// Env: GGUFFS_BUILD (default <repo>/build), GGUFFS_FIXTURES (default
// <repo>/tests/fixtures/out; missing fixtures are generated).
//
// Tolerance. With the fixtures' weights (projections std 0.15, embeddings 0.5)
// the logits reach |18|. The reference is float64 on the source values;
// llama.cpp's CPU matmul converts the f32 activations to the weight's vec-dot
// type (F16 for F16 weights, BF16 for BF16 weights) and keeps the KV cache in
// F16, and gguffs stores F32 sources as F16 (as convert_hf_to_gguf does).
// Measured for a correct conversion: 0.005-0.025 with F16/F32 weights, 0.10-0.16
// with BF16 weights (8-bit mantissa activations); the same fixtures converted
// to all-F32 GGUFs give 0.003-0.009 (GGUFFS_E2E_JS_CONVERT=1). Broken
// conversions: un-permuted Q/K > 9, llama3 rope factors all 1.0 > 1.4 (with the
// 256-token prompt used here). Hence TOL = 0.05, or 0.25 when the GGUF's
// matmul weights are BF16; a negative control must exceed REJECT =
// max(0.5, 3 * TOL) or change the argmax. The test 'tensor values equal the
// source' separately pins the bytes, so the looser BF16 bound hides no
// conversion error.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadHfModel, forwardLastLogits, ropeInvFreq, f16ToF64 } from './reference.mjs';
import { readGguf, parseGguf, writeUnpermutedCopy, unpermuteRows, permuteRows, GGML_TYPE } from './gguf.mjs';
import { BUILD, FIXTURES, CONVERT, convertModel, ensureFixtures, makeTmp, removeTmp, xorshift32, startLlama,
  withModel as withModelOf, modelLogits, compareLogits as compare, assertMatches,
  assertRejected as assertRejectedBeyond, mountGguffs, unmountGguffs, sha256File } from './harness.mjs';

const TOL_DEFAULT = 0.05;
const TOL_BF16 = 0.25;
const rejectFor = tol => Math.max(0.5, 3 * tol);
const PROMPT_LEN = 256;

const ALL_FIXTURES = ['llama-f32-tied', 'llama-f16', 'llama-bf16', 'llama-bf16-3shard-rope3', 'llama-spm', 'llama-hd'];

const LLAMA3_TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  'Hello, world!  Multiple   spaces,\ttabs\tand\n\nnewlines \n',
  'Digits: 0 7 42 1234567890 3.14159 -273.15 1e-5 2024-06-30',
  'Unicode: héllo wörld naïve café — 日本語のテキスト 🦙🚀 Привет мир ελληνικά',
  'def f(x):\n    return {"a": [x ** 2, x // 3]}  # code\n\tif (a && b) { c++; }',
  "I'm sure they'll say it's fine, don't you think? WE'RE ALL CAPS",
];
const SPM_TEXTS = [
  'hello world',
  'the quick brown fox jumps over the lazy dog',
  'Hello World 123!',
  'héllo 日本 🦙',
  'many  spaces and what then',
];

let tmp;
let llama;

// GGUFFS_E2E_JS_CONVERT=1 swaps gguffs-convert for the test-only js-convert.mjs
// (llamacpp profile only), to check this harness itself.
const JS_CONVERT = process.env.GGUFFS_E2E_JS_CONVERT === '1';

async function convert(fixture, profile, out) {
  if (JS_CONVERT) {
    if (profile !== 'llamacpp') return null;
    const { jsConvert } = await import('./js-convert.mjs');
    jsConvert(path.join(FIXTURES, fixture), out);
    return out;
  }
  convertModel(path.join(FIXTURES, fixture), `profile=${profile}`, out);
  assert.ok(fs.existsSync(out) && fs.statSync(out).size > 0, `gguffs-convert wrote no ${out}`);
  return out;
}

// Deterministic prompt: the text's tokens, then pseudo-random ids (normal
// tokens only) up to PROMPT_LEN, so that positions reach where the llama3
// rope factors matter.
function promptTokens(textTokens, lo, hi) {
  const out = textTokens.slice(0, PROMPT_LEN);
  let x = 0x2545f491;
  while (out.length < PROMPT_LEN) {
    x = xorshift32(x);
    out.push(lo + (x % (hi - lo)));
  }
  return out;
}

const withModel = (file, fn) => withModelOf(llama, file, fn);
const llamaLogits = (model, tokens, V) => modelLogits(model, tokens, V, { contextSize: 512 });

const assertRejected = (r, what, TOL) => assertRejectedBeyond(r, what, rejectFor(TOL));

const GGUF_TO_HF = [['token_embd', 'model.embed_tokens'], ['output_norm', 'model.norm'], ['output.', 'lm_head.'],
  ['blk.', 'model.layers.'], ['attn_norm', 'input_layernorm'], ['ffn_norm', 'post_attention_layernorm'],
  ['attn_q.', 'self_attn.q_proj.'], ['attn_k.', 'self_attn.k_proj.'], ['attn_v.', 'self_attn.v_proj.'],
  ['attn_output.', 'self_attn.o_proj.'], ['ffn_gate.', 'mlp.gate_proj.'], ['ffn_up.', 'mlp.up_proj.'], ['ffn_down.', 'mlp.down_proj.']];
function hfName(n) {
  for (const [a, b] of GGUF_TO_HF) n = n.startsWith(a) ? b + n.slice(a.length) : n.replace('.' + a, '.' + b);
  return n;
}

function decodeGguf(buf, type) {
  const n = buf.length / (type === 'F32' ? 4 : 2);
  const out = new Float64Array(n);
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (let i = 0; i < n; i++) {
    if (type === 'F32') out[i] = buf.readFloatLE(4 * i);
    else if (type === 'F16') out[i] = f16ToF64(buf.readUInt16LE(2 * i));
    else if (type === 'BF16') { u[0] = buf.readUInt16LE(2 * i) << 16; out[i] = f[0]; }
    else throw new Error(`tensor type ${type}`);
  }
  return out;
}

function stripBos(ids, bos) { return ids.length && ids[0] === bos ? ids.slice(1) : ids; }

// Independent SentencePiece-BPE encoder (as llama.cpp's llm_tokenizer_spm and
// sentencepiece's bpe_model): dummy prefix, spaces -> U+2581, repeatedly merge
// the adjacent pair whose concatenation is a piece with the highest score
// (leftmost on ties), unknown characters fall back to <0xXX> byte pieces.
function spmEncode(pieces, text) {
  const id = new Map();
  pieces.forEach((p, i) => { if (p.type === 1 || p.type === 6) id.set(p.piece, i); });
  let syms = Array.from(('\u2581' + text.replaceAll(' ', '\u2581')));
  for (;;) {
    let best = -1, bestScore = -Infinity;
    for (let i = 0; i + 1 < syms.length; i++) {
      const j = id.get(syms[i] + syms[i + 1]);
      if (j !== undefined && pieces[j].type === 1 && pieces[j].score > bestScore) { best = i; bestScore = pieces[j].score; }
    }
    if (best < 0) break;
    syms.splice(best, 2, syms[best] + syms[best + 1]);
  }
  const out = [];
  for (const s of syms) {
    if (id.has(s) && pieces[id.get(s)].type === 1) out.push(id.get(s));
    else for (const b of Buffer.from(s, 'utf8')) out.push(id.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
  }
  return out;
}

before(async () => {
  if (!JS_CONVERT) assert.ok(fs.existsSync(CONVERT), `${CONVERT} not found: build it (ninja -C ${BUILD}) or set GGUFFS_BUILD`);
  ensureFixtures('make-fixtures.mjs', ALL_FIXTURES, { only: true });
  tmp = makeTmp('gguffs-e2e-');
  llama = await startLlama();
});

after(async () => {
  if (llama) await llama.dispose();
  removeTmp(tmp);
});

test('harness: unpermuteRows inverts the converter permutation', () => {
  const rows = 24, rowBytes = 3, nHead = 3;
  const src = Buffer.from(Array.from({ length: rows * rowBytes }, (_, i) => i));
  const perm = permuteRows(src, rows, rowBytes, nHead);
  assert.notDeepEqual(perm, src);
  // row h*D + s*D/2 + k -> h*D + 2k + s: with D=8, source row 4 (h0,s1,k0) lands on row 1
  assert.deepEqual(perm.subarray(1 * rowBytes, 2 * rowBytes), src.subarray(4 * rowBytes, 5 * rowBytes));
  assert.deepEqual(unpermuteRows(perm, rows, rowBytes, nHead), src);
});

for (const fx of ALL_FIXTURES) {
  describe(fx, () => {
    const state = {};
    const isSpm = fx === 'llama-spm';

    before(async () => {
      state.hf = loadHfModel(path.join(FIXTURES, fx));
      state.gguf = await convert(fx, 'llamacpp', path.join(tmp, `${fx}.gguf`));
      const q = readGguf(state.gguf).tensors.find(t => t.name === 'blk.0.attn_q.weight');
      state.tol = q && q.typeName === 'BF16' ? TOL_BF16 : TOL_DEFAULT;
    });

    test('tensor values equal the source values (Q/K un-permuted)', () => {
      const buf = fs.readFileSync(state.gguf);
      const g = parseGguf(buf);
      const c = state.hf.config;
      const nh = c.num_attention_heads, nkv = c.num_key_value_heads ?? nh;
      const expected = new Set([...state.hf.index.keys()].filter(n => !n.endsWith('rotary_emb.inv_freq')));
      const seen = new Set();
      for (const t of g.tensors) {
        if (t.name === 'rope_freqs.weight') continue;
        const src = hfName(t.name);
        assert.ok(expected.has(src), `unexpected tensor ${t.name} (source ${src})`);
        seen.add(src);
        const shape = state.hf.shape(src);
        assert.deepEqual(t.ne, [...shape].reverse(), `${t.name} ne`);
        const srcDtype = state.hf.index.get(src).dtype;
        let data = buf.subarray(g.dataStart + t.offset, g.dataStart + t.offset + t.nbytes);
        const qk = /attn_([qk])\./.exec(t.name);
        if (qk) {
          const size = GGML_TYPE[t.type][2];
          data = unpermuteRows(data, shape[0], shape.length === 1 ? size : shape[1] * size, qk[1] === 'q' ? nh : nkv);
        }
        const got = decodeGguf(data, t.typeName);
        const want = state.hf.get(src);
        // same dtype: exact; narrowed (F32 -> F16/BF16): within half an ulp of the target type
        const rel = t.typeName === srcDtype || t.typeName === 'F32' ? 0 : t.typeName === 'F16' ? 2 ** -11 : 2 ** -8;
        for (let i = 0; i < want.length; i++) {
          const d = Math.abs(got[i] - want[i]);
          if (!(d <= rel * Math.abs(want[i]) + (rel ? 6e-8 : 0)))
            assert.fail(`${t.name}[${i}] = ${got[i]}, source ${want[i]} (${srcDtype} -> ${t.typeName})`);
        }
      }
      assert.deepEqual([...expected].filter(n => !seen.has(n)), [], 'source tensors missing from the GGUF');
    });

    test('gguf header is what llama.cpp needs', () => {
      const g = readGguf(state.gguf);
      const c = state.hf.config;
      assert.equal(g.kv.get('general.architecture'), 'llama');
      const names = new Set(g.tensors.map(t => t.name));
      assert.equal(names.has('output.weight'), !c.tie_word_embeddings, 'output.weight present iff untied');
      assert.ok(![...names].some(n => n.includes('inv_freq') || n.includes('rotary')), 'legacy inv_freq must be dropped');
      const hd = c.head_dim ?? c.hidden_size / c.num_attention_heads;
      assert.equal(Number(g.kv.get('llama.rope.dimension_count')), hd, 'rope dim = head_dim');
      if (c.rope_scaling?.rope_type === 'llama3') {
        const t = g.tensors.find(x => x.name === 'rope_freqs.weight');
        assert.ok(t, 'rope_freqs.weight missing');
        assert.equal(t.typeName, 'F32');
        const buf = fs.readFileSync(state.gguf);
        const base = ropeInvFreq({ ...c, rope_scaling: null }), scaled = ropeInvFreq(c);
        const got = Array.from({ length: t.ne[0] }, (_, i) => buf.readFloatLE(g.dataStart + t.offset + 4 * i));
        const want = Array.from(base, (v, i) => v / scaled[i]);
        assert.equal(got.length, hd / 2);
        for (let i = 0; i < want.length; i++)
          assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * want[i], `rope_freqs[${i}] = ${got[i]}, want ${want[i]} (all: ${got})`);
        // the fixture must exercise all three regions
        assert.ok(want.some(v => v === 1) && want.some(v => v === c.rope_scaling.factor) &&
          want.some(v => v > 1 && v < c.rope_scaling.factor), `fixture rope_freqs ${want} miss a region`);
      } else {
        assert.ok(!names.has('rope_freqs.weight'), 'rope_freqs.weight without llama3 rope scaling');
      }
    });

    test('llama.cpp tokenizes like the reference tokenizer', async () => {
      await withModel(state.gguf, async model => {
        if (isSpm) {
          const { spmVocab } = await import('../fixtures/make-fixtures.mjs');
          const pieces = spmVocab(state.hf.config.vocab_size);
          for (const text of SPM_TEXTS) {
            const got = stripBos(Array.from(model.tokenize(text)), model.tokens.bos);
            assert.deepEqual(got, spmEncode(pieces, text), `SPM tokens of ${JSON.stringify(text)}`);
            assert.equal(model.detokenize(got).replace(/^ /, ''), text, `round trip of ${JSON.stringify(text)}`);
          }
          state.textTokens = stripBos(Array.from(model.tokenize(SPM_TEXTS[1])), model.tokens.bos);
        } else {
          const { TokenizerLoader } = await import('@lenml/tokenizers');
          const dir = path.join(FIXTURES, fx);
          const hfTok = TokenizerLoader.fromPreTrained({
            tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
            tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')),
          });
          for (const text of LLAMA3_TEXTS) {
            const got = stripBos(Array.from(model.tokenize(text)), model.tokens.bos);
            const want = hfTok.encode(text, { add_special_tokens: false });
            assert.deepEqual(got, want, `tokens of ${JSON.stringify(text)}`);
            assert.equal(model.detokenize(got), text, `round trip of ${JSON.stringify(text)}`);
          }
          assert.equal(model.tokens.bos, 128000, 'BOS id');
          state.textTokens = stripBos(Array.from(model.tokenize(LLAMA3_TEXTS[0])), model.tokens.bos);
        }
      });
    });

    test('next-token logits match the float64 reference', async (t) => {
      const V = state.hf.config.vocab_size;
      const text = state.textTokens ?? (isSpm ? [1] : [791]);
      state.tokens = isSpm ? promptTokens(text, 259, V) : promptTokens(text, 0, 128000);
      state.ref = forwardLastLogits(state.hf, state.tokens);
      const got = await withModel(state.gguf, m => llamaLogits(m, state.tokens, state.hf.config.vocab_size));
      state.got = got;
      const r = compare(got, state.ref);
      t.diagnostic(`${fx}: llamacpp profile max|logit diff| ${r.maxDiff.toFixed(5)} (max|ref| ${r.maxRef.toFixed(2)}), argmax ${r.argmaxGot}/${r.argmaxRef}`);
      assertMatches(r, fx, state.tol);
    });

    test('the mounted model.gguf (read through mmap) gives the converted file\'s logits', async (t) => {
      if (JS_CONVERT) { t.skip('GGUFFS_E2E_JS_CONVERT: no mount'); return; }
      assert.ok(state.got, 'converted-file logits missing (previous test failed)');
      const m = await mountGguffs(tmp, path.join(FIXTURES, fx), { opts: 'profile=llamacpp' });
      try {
        assert.equal(sha256File(m.path), sha256File(state.gguf), 'mounted bytes differ from gguffs-convert');
        const got = await withModel(m.path, mdl => llamaLogits(mdl, state.tokens, state.hf.config.vocab_size));
        const r = compare(got, state.got);
        t.diagnostic(`${fx}: mount vs converted file max|logit diff| ${r.maxDiff}`);
        assert.equal(r.maxDiff, 0, 'llama.cpp on the mount must compute exactly what it computes on the file');
      } finally {
        await unmountGguffs(m);
      }
    });

    test('negative control: un-permuted Q/K is rejected', async (t) => {
      assert.ok(state.ref, 'reference logits missing (previous test failed)');
      const bad = path.join(tmp, `${fx}-unpermuted.gguf`);
      const changed = writeUnpermutedCopy(state.gguf, bad);
      assert.equal(changed.filter(n => n.endsWith('.weight')).length, 2 * state.hf.config.num_hidden_layers);
      const got = await withModel(bad, m => llamaLogits(m, state.tokens, state.hf.config.vocab_size));
      const r = compare(got, state.ref);
      t.diagnostic(`${fx}: NEGATIVE (q/k unpermuted) max|logit diff| ${r.maxDiff.toFixed(5)}, argmax ${r.argmaxGot}/${r.argmaxRef}`);
      assertRejected(r, `${fx} unpermuted`, state.tol);
    });

    if (fx === 'llama-bf16-3shard-rope3') {
      test('negative control: rope_freqs all 1.0 is rejected', async (t) => {
        assert.ok(state.ref, 'reference logits missing (previous test failed)');
        const buf = fs.readFileSync(state.gguf);
        const g = readGguf(state.gguf);
        const rf = g.tensors.find(x => x.name === 'rope_freqs.weight');
        assert.ok(rf, 'rope_freqs.weight missing');
        for (let i = 0; i < rf.ne[0]; i++) buf.writeFloatLE(1, g.dataStart + rf.offset + 4 * i);
        const bad = path.join(tmp, `${fx}-norope.gguf`);
        fs.writeFileSync(bad, buf);
        const got = await withModel(bad, m => llamaLogits(m, state.tokens, state.hf.config.vocab_size));
        const r = compare(got, state.ref);
        t.diagnostic(`${fx}: NEGATIVE (rope_freqs = 1) max|logit diff| ${r.maxDiff.toFixed(5)}`);
        assertRejected(r, `${fx} without rope factors`, state.tol);
      });
    }

    if (fx === 'llama-hd') {
      test('profile=ollama output differs from HF (rope dim H/heads, unpermuted biases)', async (t) => {
        assert.ok(state.ref, 'reference logits missing (previous test failed)');
        const out = await convert(fx, 'ollama', path.join(tmp, `${fx}-ollama.gguf`));
        if (out === null) { t.skip('GGUFFS_E2E_JS_CONVERT has no ollama profile'); return; }
        const g = readGguf(out);
        assert.equal(Number(g.kv.get('llama.rope.dimension_count')),
          state.hf.config.hidden_size / state.hf.config.num_attention_heads, 'Ollama rope dim = hidden/heads');
        let r = null, loadError = null;
        try {
          const got = await withModel(out, m => llamaLogits(m, state.tokens, state.hf.config.vocab_size));
          r = compare(got, state.ref);
        } catch (e) { loadError = e; }
        t.diagnostic(`${fx}: profile=ollama ${loadError ? `does not load in llama.cpp: ${String(loadError.message ?? loadError).split('\n')[0]}` : `max|logit diff| ${r.maxDiff.toFixed(5)}`}`);
        if (!loadError) assertRejected(r, `${fx} ollama profile`, state.tol);
      });
    }
  });
}
