// End-to-end: tiny GLM-4.7-Flash (Glm4MoeLiteForCausalLM) fixtures ->
// gguffs-convert and the gguffs FUSE mount -> real llama.cpp (node-llama-cpp,
// arch deepseek2) -> next-token logits, compared with an independent float64
// reference forward pass of the HF model written below (MLA attention in the
// plain kv_b form, interleaved RoPE on the rope part, sigmoid top-k routing
// with e_score_correction_bias for selection only, normalised weights times
// routed_scaling_factor, shared experts, dense first layer). The reference
// reads the safetensors itself (reference.mjs's reader and nothing of gguffs).
//
// Env: GGUFFS_BUILD (default <repo>/build), GGUFFS_FIXTURES (default
// <repo>/tests/fixtures/out; missing GLM fixtures are generated).
//
// Tolerance. Weights are BF16 with projection std 0.15 (router 0.3,
// embeddings and head 0.5), so logits reach |20| or so. llama.cpp multiplies
// BF16 weights by activations it rounds to BF16 (8 mantissa bits) and keeps
// the latent KV cache in F16, while the reference is float64 on the same
// BF16 values: a correct conversion lands at 0.10-0.18 (measured on both
// fixtures, converted and mounted), i.e. about 1% of the largest logit. A
// broken transform lands at 12 or more (k_b left untransposed: 15-16;
// experts stacked in lexical order: 13). TOL 0.3 leaves 1.7x on the good
// side; each negative control must exceed REJECT 2 (6x under what they give)
// or change the argmax.
//
// The prompt is short (24 tokens) because top-k routing is discontinuous: a
// near tie between two experts' scores (f32 in llama.cpp, f64 here) flips
// the choice. The reference reports the smallest selection margin it met;
// the test refuses to judge when it is below 1e-4.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadHfModel } from './reference.mjs';
import { glmForward } from './glm-reference.mjs';
import { readGguf, patchTensors as patchCopy, GGUF_TYPE, lexicalExperts } from './gguf.mjs';
import { BUILD, FIXTURES, CONVERT, GGUFFS, convertModel, ensureFixtures, makeTmp, removeTmp, sha256File as sha,
  xorshift32, startLlama, fileLogits, compareLogits as compare, assertMatches as assertWithin,
  assertRejected as assertRejectedBeyond, mountGguffs, unmountGguffs } from './harness.mjs';

const GLM_FIXTURES = ['glm-tiny', 'glm-tiny-kvbT'];

const TOL = 0.3;
const REJECT = 2;
const MIN_MARGIN = 0.01;
const PROMPT_LEN = 24;

let tmp, llama;

// ------------------------------------------------------------ helpers ----
function convert(fixture, profile, out) {
  convertModel(path.join(FIXTURES, fixture), `profile=${profile}`, out);
  return out;
}

function promptTokens(seed) {
  const out = [0]; // BOS
  let x = (0x9e3779b9 ^ Math.imul(seed, 0x85ebca6b)) >>> 0 || 1;
  while (out.length < PROMPT_LEN) {
    x = xorshift32(x);
    out.push(3 + (x % 127000)); // ordinary vocabulary tokens
  }
  return out;
}

const logitsOf = (file, tokens, V) => fileLogits(llama, file, tokens, V, { contextSize: 256 });
const assertMatches = (r, what) => assertWithin(r, what, TOL);
const assertRejected = (r, what) => assertRejectedBeyond(r, what, REJECT);

// k_b as the raw nope slice of kv_b, i.e. [H, nope, kv_lora] bytes under the
// [H, kv_lora, nope] label: the converter "forgot" the transpose.
function untransposeKb(bytes, t) {
  const [nope, lora, H] = t.ne, es = bytes.length / (nope * lora * H), out = Buffer.alloc(bytes.length);
  for (let h = 0; h < H; h++)
    for (let i = 0; i < lora; i++)
      for (let j = 0; j < nope; j++) {
        const src = ((h * lora + i) * nope + j) * es, dst = ((h * nope + j) * lora + i) * es;
        bytes.copy(out, dst, src, src + es);
      }
  return out;
}

// ------------------------------------------------------------- tests ----
before(async () => {
  assert.ok(fs.existsSync(CONVERT), `${CONVERT} not found: build it (ninja -C ${BUILD}) or set GGUFFS_BUILD`);
  ensureFixtures('make-glm.mjs', GLM_FIXTURES);
  tmp = makeTmp('gguffs-glm-e2e-');
  llama = await startLlama();
});

after(async () => {
  if (llama) await llama.dispose();
  removeTmp(tmp);
});

test('harness: lexicalExperts permutes 12 experts as a lexical sort would', () => {
  const bytes = Buffer.from(Array.from({ length: 12 }, (_, i) => i));
  assert.deepEqual([...lexicalExperts(bytes, { ne: [1, 1, 12] })], [0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9]);
  const kb = Buffer.from([0, 1, 2, 3, 4, 5]); // H=1, lora=2, nope=3 -> [nope][lora]
  assert.deepEqual([...untransposeKb(kb, { ne: [3, 2, 1] })], [0, 3, 1, 4, 2, 5]);
});

for (const fx of GLM_FIXTURES) {
  describe(fx, () => {
    const st = {};
    before(() => {
      st.hf = loadHfModel(path.join(FIXTURES, fx));
      st.gguf = convert(fx, 'llamacpp', path.join(tmp, `${fx}.gguf`));
      // The first deterministic prompt whose every routing decision has a
      // clear margin (see the header comment).
      for (let seed = 1; seed <= 200 && !(st.minMargin > MIN_MARGIN); seed++) {
        st.tokens = promptTokens(seed);
        const r = glmForward(st.hf, st.tokens);
        st.ref = r.logits;
        st.minMargin = r.minMargin;
        st.seed = seed;
      }
    });

    test('header: deepseek2 MLA layout, MTP layer dropped, ollama profile the same but for the names', () => {
      const g = readGguf(st.gguf);
      const c = st.hf.config;
      assert.equal(g.kv.get('general.architecture'), 'deepseek2');
      assert.equal(g.kvTypes.get('deepseek2.expert_weights_norm'), GGUF_TYPE.BOOL);
      assert.equal(g.kv.get('deepseek2.attention.key_length_mla'), c.qk_nope_head_dim + c.qk_rope_head_dim);
      const byName = new Map(g.tensors.map(t => [t.name, t]));
      assert.ok(!g.tensors.some(t => t.name.startsWith(`blk.${c.num_hidden_layers}.`)), 'MTP layer must be dropped');
      assert.ok(!g.tensors.some(t => t.name.includes('attn_kv_b')), 'attn_kv_b must not be written');
      assert.deepEqual(byName.get('blk.1.attn_k_b.weight').ne, [c.qk_nope_head_dim, c.kv_lora_rank, c.num_attention_heads]);
      assert.deepEqual(byName.get('blk.1.attn_v_b.weight').ne, [c.kv_lora_rank, c.v_head_dim, c.num_attention_heads]);
      assert.deepEqual(byName.get('blk.1.ffn_gate_exps.weight').ne, [c.hidden_size, c.moe_intermediate_size, c.n_routed_experts]);
      assert.equal(byName.get('blk.1.ffn_gate_inp.weight').typeName, 'F32');
      // The profiles differ only in what llama.cpp's converter adds:
      // general.name, size_label, ... and file_type 32 (naming.h).
      const ol = convert(fx, 'ollama', path.join(tmp, `${fx}-ollama.gguf`));
      const go = readGguf(ol), names = k => /^general\.(name|basename|finetune|version|size_label|organization|file_type)$/.test(k);
      assert.deepEqual([...go.kv].filter(([k]) => !names(k)), [...g.kv].filter(([k]) => !names(k)), 'KVs but the names');
      assert.equal(g.kv.get('general.file_type'), 32);
      assert.equal(go.kv.get('general.file_type'), 1);
      assert.ok(g.kv.get('general.name') && !go.kv.has('general.name'));
      assert.deepEqual(go.tensors.map(t => [t.name, t.type, t.ne, t.offset]), g.tensors.map(t => [t.name, t.type, t.ne, t.offset]));
      const a = fs.readFileSync(ol), b = fs.readFileSync(st.gguf);
      assert.ok(a.subarray(go.dataStart).equals(b.subarray(g.dataStart)), 'tensor bytes identical');
    });

    test('converted model: llama.cpp logits match the float64 reference', async (t) => {
      assert.ok(st.minMargin > MIN_MARGIN, `prompt has a routing near-tie (${st.minMargin}); change the prompt`);
      const got = await logitsOf(st.gguf, st.tokens, st.ref.length);
      const r = compare(got, st.ref);
      t.diagnostic(`${fx}: max|logit diff| ${r.maxDiff.toFixed(5)} (max|ref| ${r.maxRef.toFixed(1)}), argmax ${r.argmaxGot}/${r.argmaxRef}, min routing margin ${st.minMargin.toExponential(2)} (prompt seed ${st.seed})`);
      assertMatches(r, fx);
    });

    test('negative control: attn_k_b without the transpose is rejected', async (t) => {
      const bad = path.join(tmp, `${fx}-kb.gguf`);
      const changed = patchCopy(st.gguf, bad, n => n.endsWith('.attn_k_b.weight'), untransposeKb);
      assert.equal(changed.length, st.hf.config.num_hidden_layers);
      const r = compare(await logitsOf(bad, st.tokens, st.ref.length), st.ref);
      t.diagnostic(`${fx}: NEGATIVE (k_b untransposed) max|logit diff| ${r.maxDiff.toFixed(5)}, argmax ${r.argmaxGot}/${r.argmaxRef}`);
      assertRejected(r, `${fx} k_b untransposed`);
    });

    if (fx === 'glm-tiny-kvbT') {
      test('negative control: experts in lexical order are rejected', async (t) => {
        const bad = path.join(tmp, `${fx}-lex.gguf`);
        const changed = patchCopy(st.gguf, bad, n => /_exps\.weight$/.test(n), lexicalExperts);
        assert.equal(changed.length, 3 * (st.hf.config.num_hidden_layers - st.hf.config.first_k_dense_replace));
        const r = compare(await logitsOf(bad, st.tokens, st.ref.length), st.ref);
        t.diagnostic(`${fx}: NEGATIVE (experts lexical) max|logit diff| ${r.maxDiff.toFixed(5)}, argmax ${r.argmaxGot}/${r.argmaxRef}`);
        assertRejected(r, `${fx} experts in lexical order`);
      });
    }

    test('mounted model.gguf: same bytes as the conversion and same logits', async (t) => {
      assert.ok(fs.existsSync(GGUFFS), `${GGUFFS} not built`);
      const m = await mountGguffs(tmp, path.join(FIXTURES, fx), { timeoutMs: 10000 });
      try {
        const file = m.path, ms = m.ms;
        assert.equal(sha(file), sha(st.gguf), 'mounted bytes differ from gguffs-convert output');
        const r = compare(await logitsOf(file, st.tokens, st.ref.length), st.ref);
        t.diagnostic(`${fx}: mounted in ${ms} ms; max|logit diff| ${r.maxDiff.toFixed(5)}, argmax ${r.argmaxGot}/${r.argmaxRef}`);
        assertMatches(r, `${fx} mounted`);
      } finally {
        await unmountGguffs(m);
        fs.rmSync(m.mnt, { recursive: true, force: true });
      }
    });
  });
}
