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
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadHfModel, argmax } from './reference.mjs';
import { glmForward } from './glm-reference.mjs';
import { readGguf, parseGguf, GGUF_TYPE } from './gguf.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BUILD = path.resolve(process.env.GGUFFS_BUILD || path.join(REPO, 'build'));
const FIXTURES = path.resolve(process.env.GGUFFS_FIXTURES || path.join(REPO, 'tests/fixtures/out'));
const CONVERT = path.join(BUILD, 'gguffs-convert');
const GGUFFS = path.join(BUILD, 'gguffs');
const GLM_FIXTURES = ['glm-tiny', 'glm-tiny-kvbT'];

const TOL = 0.3;
const REJECT = 2;
const MIN_MARGIN = 0.01;
const PROMPT_LEN = 24;

let tmp, llama;

// ------------------------------------------------------------ helpers ----
function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return r;
}

function convert(fixture, profile, out) {
  const r = run(CONVERT, ['-o', `profile=${profile}`, path.join(FIXTURES, fixture), out]);
  assert.equal(r.status, 0, `gguffs-convert ${profile} ${fixture} failed (${r.status}): ${r.stderr.trim()}`);
  return out;
}

function promptTokens(seed) {
  const out = [0]; // BOS
  let x = (0x9e3779b9 ^ Math.imul(seed, 0x85ebca6b)) >>> 0 || 1;
  while (out.length < PROMPT_LEN) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out.push(3 + (x % 127000)); // ordinary vocabulary tokens
  }
  return out;
}

async function logitsOf(file, tokens, V) {
  const model = await llama.loadModel({ modelPath: file });
  try {
    const ctx = await model.createContext({ contextSize: 256, batchSize: 256, threads: 2 });
    try {
      const seq = ctx.getSequence();
      const items = tokens.map((t, i) => (i === tokens.length - 1 ? [t, { generateNext: { logits: true } }] : t));
      const res = await seq.controlledEvaluate(items);
      const lm = res[res.length - 1]?.next?.logits;
      assert.ok(lm && lm.size > 0, 'no logits from llama.cpp');
      const out = new Float64Array(V).fill(NaN);
      for (const [t, v] of lm) out[t] = v;
      return out;
    } finally { await ctx.dispose(); }
  } finally { await model.dispose(); }
}

function compare(got, ref) {
  assert.equal(got.length, ref.length);
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (!(d <= maxDiff)) maxDiff = d; // NaN sticks
  }
  const a = argmax(got), b = argmax(ref);
  const maxRef = ref.reduce((u, v) => Math.max(u, Math.abs(v)), 0);
  return { maxDiff, maxRef, argmaxGot: a, argmaxRef: b, refGap: ref[b] - ref[a] };
}

function assertMatches(r, what) {
  assert.ok(r.maxDiff < TOL, `${what}: max |logit diff| ${r.maxDiff} >= ${TOL}`);
  assert.ok(r.argmaxGot === r.argmaxRef || r.refGap < 2 * TOL, `${what}: argmax ${r.argmaxGot} != ${r.argmaxRef}`);
}

function assertRejected(r, what) {
  assert.ok(r.maxDiff > REJECT || r.argmaxGot !== r.argmaxRef,
    `${what}: broken conversion NOT rejected (max |diff| ${r.maxDiff}, argmax ${r.argmaxGot}/${r.argmaxRef})`);
}

// Rewrite a tensor's bytes in a copy of a GGUF. fn(bytes, tensor) -> Buffer.
function patchCopy(inFile, outFile, select, fn) {
  const buf = fs.readFileSync(inFile);
  const g = parseGguf(buf);
  const changed = [];
  for (const t of g.tensors) {
    if (!select(t.name)) continue;
    const begin = g.dataStart + t.offset;
    fn(buf.subarray(begin, begin + t.nbytes), t).copy(buf, begin);
    changed.push(t.name);
  }
  fs.writeFileSync(outFile, buf);
  return changed;
}

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

// Experts stacked in lexical order of their names (0, 1, 10, 11, 2, ...)
// instead of numeric order.
function lexicalExperts(bytes, t) {
  const E = t.ne[2], per = bytes.length / E, out = Buffer.alloc(bytes.length);
  const order = Array.from({ length: E }, (_, i) => String(i)).sort().map(Number);
  order.forEach((src, dst) => bytes.copy(out, dst * per, src * per, (src + 1) * per));
  return out;
}

function sha(file) { return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'); }

async function waitFor(file, child, ms) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (child.exitCode !== null) throw new Error(`gguffs exited with ${child.exitCode}`);
    if (fs.existsSync(file)) return Date.now() - t0;
    await new Promise(r => setTimeout(r, 10));
  }
  throw new Error(`${file} did not appear within ${ms} ms`);
}

// ------------------------------------------------------------- tests ----
before(async () => {
  assert.ok(fs.existsSync(CONVERT), `${CONVERT} not found: build it (ninja -C ${BUILD}) or set GGUFFS_BUILD`);
  if (GLM_FIXTURES.some(f => !fs.existsSync(path.join(FIXTURES, f, '.complete'))))
    execFileSync(process.execPath, [path.join(REPO, 'tests/fixtures/make-glm.mjs'), FIXTURES, '--quiet'], { stdio: 'inherit' });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gguffs-glm-e2e-'));
  const nlc = await import('node-llama-cpp');
  llama = await nlc.getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true,
    logLevel: nlc.LlamaLogLevel.error, logger: (lvl, msg) => { if (process.env.GGUFFS_E2E_VERBOSE) process.stderr.write(msg); } });
});

after(async () => {
  if (llama) await llama.dispose();
  if (tmp && !process.env.GGUFFS_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
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

    test('header: deepseek2 MLA layout, MTP layer dropped, ollama profile identical', () => {
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
      const ol = convert(fx, 'ollama', path.join(tmp, `${fx}-ollama.gguf`));
      assert.equal(sha(ol), sha(st.gguf), 'profile=ollama must give the same bytes here');
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
      const mnt = fs.mkdtempSync(path.join(tmp, 'mnt-'));
      const child = spawn(GGUFFS, ['-f', path.join(FIXTURES, fx), mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', d => { stderr += d; });
      try {
        const file = path.join(mnt, 'model.gguf');
        let ms;
        try { ms = await waitFor(file, child, 10000); } catch (e) { throw new Error(`${e.message}: ${stderr.trim()}`); }
        assert.equal(sha(file), sha(st.gguf), 'mounted bytes differ from gguffs-convert output');
        const r = compare(await logitsOf(file, st.tokens, st.ref.length), st.ref);
        t.diagnostic(`${fx}: mounted in ${ms} ms; max|logit diff| ${r.maxDiff.toFixed(5)}, argmax ${r.argmaxGot}/${r.argmaxRef}`);
        assertMatches(r, `${fx} mounted`);
      } finally {
        spawnSync('fusermount3', ['-u', mnt]);
        if (child.exitCode === null) {
          await new Promise(r => { const tm = setTimeout(() => { child.kill('SIGKILL'); r(); }, 5000); child.once('exit', () => { clearTimeout(tm); r(); }); });
        }
        fs.rmSync(mnt, { recursive: true, force: true });
      }
    });
  });
}
