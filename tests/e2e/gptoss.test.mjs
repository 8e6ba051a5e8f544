// End-to-end: the tiny gpt-oss fixture (MXFP4 experts) -> gguffs-convert and
// the gguffs mount -> real llama.cpp (arch gpt-oss) -> next-token logits
// against gptoss-reference.mjs (transformers' semantics in float64, MXFP4
// dequantized there), plus the expert bytes against an independent repack,
// the token ids against the HF tokenizer, and Ollama's rules in the ollama
// profile.
//
// Tolerance. llama.cpp rounds activations to 8 bits (Q8_0) before every
// MXFP4 product and to BF16 before BF16 ones; on this fixture (weights std
// >= 0.12, experts ~0.14, logits up to ~6) a correct file lands at 0.04-0.09
// depending on the prompt (0.12 on one of 19 prompts tried): TOL 0.1 as the
// issue sets it. gate/up split as halves instead of interleaved lands at 5
// or more: REJECT 1.
//
// Top-k routing is discontinuous: the prompt is the first whose smallest
// margin between the last chosen and the first rejected router logit is
// above MIN_MARGIN.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadHfModel } from './reference.mjs';
import { gptossForward } from './gptoss-reference.mjs';
import { readGguf, patchTensors, GGUF_TYPE } from './gguf.mjs';
import { tokenizerTexts, tokenMismatches } from './tok-texts.mjs';
import { FIXTURES, CONVERT, GGUFFS, convertModel, ensureFixtures, makeTmp, removeTmp, sha256File as sha,
  xorshift32, startLlama, fileLogits, compareLogits, formatComparison, assertMatches, assertRejected,
  mountGguffs, unmountGguffs } from './harness.mjs';

const FX = 'gptoss-tiny';
const TOL = 0.1;
const REJECT = 1;
const MIN_MARGIN = 0.04;
const PROMPT_LEN = 24;

let tmp, llama, hf, tokens, ref, gguf;
const dir = () => path.join(FIXTURES, FX);

// The GGML MXFP4 bytes of rows rowOf(r) (r < rows) of every expert of a
// [E, R, G, 16] U8 blocks / [E, R, G] scales pair, written from the
// formats: source element 2j is the low nibble of byte j; GGML's block is
// the scale byte, then byte j = element j | element j + 16 << 4.
function repack(blocks, scales, [E, R, G], rows, rowOf) {
  const out = Buffer.alloc(E * rows * G * 17);
  let o = 0;
  for (let e = 0; e < E; e++)
    for (let r = 0; r < rows; r++)
      for (let g = 0; g < G; g++) {
        const b = (e * R + rowOf(r)) * G + g;
        const el = [];
        for (let j = 0; j < 16; j++) el.push(blocks[b * 16 + j] & 15, blocks[b * 16 + j] >> 4);
        out[o++] = scales[b];
        for (let j = 0; j < 16; j++) out[o++] = el[j] | (el[j + 16] << 4);
      }
  return out;
}

// Expert tensors of a layer as gguffs must write them, from the source
// bytes; `halves` gives the broken split (gate = first half of the rows).
function expectedExperts(l, halves = false) {
  const p = `model.layers.${l}.mlp.experts.`;
  const gb = hf.get(p + 'gate_up_proj_blocks'), gs = hf.get(p + 'gate_up_proj_scales');
  const shape = hf.shape(p + 'gate_up_proj_scales'), half = shape[1] / 2;
  const db = hf.get(p + 'down_proj_blocks'), ds = hf.get(p + 'down_proj_scales');
  return {
    [`blk.${l}.ffn_gate_exps.weight`]: repack(gb, gs, shape, half, r => (halves ? r : 2 * r)),
    [`blk.${l}.ffn_up_exps.weight`]: repack(gb, gs, shape, half, r => (halves ? half + r : 2 * r + 1)),
    [`blk.${l}.ffn_down_exps.weight`]: repack(db, ds, hf.shape(p + 'down_proj_scales'), hf.shape(p + 'down_proj_scales')[1], r => r),
  };
}

function tensorBytes(file, g, name) {
  const t = g.tensors.find(x => x.name === name);
  assert.ok(t, `${name} missing`);
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(t.nbytes);
    fs.readSync(fd, b, 0, t.nbytes, g.dataStart + t.offset);
    return b;
  } finally { fs.closeSync(fd); }
}

function promptTokens(seed) {
  const out = [];
  let x = (0x9e3779b9 ^ Math.imul(seed, 0x85ebca6b)) >>> 0 || 1;
  while (out.length < PROMPT_LEN) { x = xorshift32(x); out.push(x % 199000); }
  return out;
}

const logitsOf = file => fileLogits(llama, file, tokens, ref.length, { contextSize: 256 });

before(async () => {
  assert.ok(fs.existsSync(CONVERT), `${CONVERT} not found`);
  ensureFixtures('make-gptoss.mjs', [FX]);
  tmp = makeTmp('gguffs-gptoss-e2e-');
  llama = await startLlama();
  hf = loadHfModel(dir());
  let margin = 0;
  for (let seed = 1; seed <= 100 && !(margin > MIN_MARGIN); seed++) {
    tokens = promptTokens(seed);
    const r = gptossForward(hf, tokens);
    ref = r.logits;
    margin = r.minMargin;
  }
  assert.ok(margin > MIN_MARGIN, 'no prompt without a routing near-tie');
  gguf = path.join(tmp, `${FX}.gguf`);
  convertModel(dir(), 'profile=llamacpp', gguf);
});

after(async () => {
  if (llama) await llama.dispose();
  removeTmp(tmp);
});

test('header: gpt-oss KVs, MXFP4 experts, llama.cpp file type 38', () => {
  const g = readGguf(gguf), c = hf.config;
  assert.equal(g.kv.get('general.architecture'), 'gpt-oss');
  assert.equal(g.kv.get('general.file_type'), 38);
  assert.equal(g.kv.get('gpt-oss.expert_count'), c.num_local_experts);
  assert.equal(g.kv.get('gpt-oss.expert_used_count'), c.num_experts_per_tok);
  assert.equal(g.kv.get('gpt-oss.expert_feed_forward_length'), c.intermediate_size);
  assert.equal(g.kv.get('gpt-oss.attention.sliding_window'), c.sliding_window);
  assert.equal(g.kv.get('gpt-oss.rope.scaling.type'), 'yarn');
  assert.equal(g.kv.get('gpt-oss.rope.scaling.factor'), c.rope_scaling.factor);
  assert.equal(g.kv.get('gpt-oss.rope.scaling.original_context_length'), c.rope_scaling.original_max_position_embeddings);
  assert.equal(g.kv.get('tokenizer.ggml.model'), 'gpt2');
  assert.equal(g.kv.get('tokenizer.ggml.pre'), 'granite-embed-multi-97m');
  assert.equal(g.kv.get('tokenizer.ggml.tokens').length, c.vocab_size);
  assert.equal(g.kv.get('tokenizer.ggml.tokens')[200500], '[PAD200500]');
  assert.equal(g.kv.get('tokenizer.ggml.token_type')[200500], 5);
  assert.equal(g.kv.get('tokenizer.ggml.bos_token_id'), 199998);
  assert.equal(g.kv.get('tokenizer.ggml.eos_token_id'), 200002);
  const byName = new Map(g.tensors.map(t => [t.name, t]));
  const H = c.hidden_size, I = c.intermediate_size, E = c.num_local_experts;
  assert.deepEqual(byName.get('blk.0.ffn_gate_exps.weight').ne, [H, I, E]);
  assert.deepEqual(byName.get('blk.1.ffn_down_exps.weight').ne, [I, H, E]);
  assert.deepEqual(byName.get('blk.0.ffn_up_exps.bias').ne, [I, E]);
  assert.deepEqual(byName.get('blk.0.attn_sinks.weight').ne, [c.num_attention_heads]);
  for (const t of g.tensors) if (/_exps\.weight$/.test(t.name)) assert.equal(t.typeName, 'MXFP4', t.name);
});

test('expert bytes equal an independent MXFP4 repack (gate/up interleaved)', () => {
  const g = readGguf(gguf);
  for (let l = 0; l < hf.config.num_hidden_layers; l++)
    for (const [name, want] of Object.entries(expectedExperts(l)))
      assert.ok(tensorBytes(gguf, g, name).equals(want), `${name}: bytes differ from the repack`);
  // the expert biases split the same way
  const bias = hf.get('model.layers.0.mlp.experts.gate_up_proj_bias'), E = hf.config.num_local_experts, I = hf.config.intermediate_size;
  const up = tensorBytes(gguf, g, 'blk.0.ffn_up_exps.bias');
  for (let e = 0; e < E; e++)
    for (let i = 0; i < I; i++)
      assert.equal(up.readFloatLE(4 * (e * I + i)), bias[e * 2 * I + 2 * i + 1]);
});

test('converted model: llama.cpp logits match the float64 reference', async (t) => {
  const r = compareLogits(await logitsOf(gguf), ref);
  t.diagnostic(`${FX}: ${formatComparison(r)}`);
  assertMatches(r, FX, TOL);
});

test('negative control: gate/up split as halves is rejected', async (t) => {
  const bad = path.join(tmp, `${FX}-halves.gguf`);
  const want = {};
  for (let l = 0; l < hf.config.num_hidden_layers; l++) Object.assign(want, expectedExperts(l, true));
  const changed = patchTensors(gguf, bad, n => n in want && !/down/.test(n), (bytes, tt) => want[tt.name]);
  assert.equal(changed.length, 2 * hf.config.num_hidden_layers);
  const r = compareLogits(await logitsOf(bad), ref);
  t.diagnostic(`${FX}: NEGATIVE (gate/up halves) ${formatComparison(r)}`);
  assertRejected(r, `${FX} gate/up halves`, REJECT);
});

test('token ids equal the HF tokenizer on every text', async (t) => {
  const texts = tokenizerTexts();
  const bad = await tokenMismatches(llama, gguf, dir(), texts);
  t.diagnostic(`${texts.length} texts, ${bad.length} differ`);
  assert.deepEqual(bad.slice(0, 3), [], `${bad.length} of ${texts.length} texts tokenize differently`);
});

test('ollama profile: Ollama\'s file type, token ids and vocabulary; same tensors', () => {
  const ol = path.join(tmp, `${FX}-ollama.gguf`);
  convertModel(dir(), 'profile=ollama', ol);
  const g = readGguf(ol), l = readGguf(gguf);
  assert.equal(g.kv.get('general.file_type'), 4);
  assert.equal(g.kv.get('tokenizer.ggml.pre'), 'gpt-4o');
  assert.equal(g.kv.get('tokenizer.ggml.bos_token_id'), 199998);
  assert.equal(g.kv.get('tokenizer.ggml.eos_token_id'), 199999);
  assert.deepEqual([...g.kv.get('tokenizer.ggml.eos_token_ids')], [199999, 200002, 200012]);
  assert.equal(g.kvTypes.get('tokenizer.ggml.add_bos_token'), GGUF_TYPE.BOOL);
  assert.equal(g.kv.get('tokenizer.ggml.add_bos_token'), false);
  assert.equal(g.kv.get('gpt-oss.vocab_size'), hf.config.vocab_size);
  // Ollama's ranked vocabulary, padded with [PAD<k>] USER_DEFINED
  const toks = g.kv.get('tokenizer.ggml.tokens');
  assert.equal(toks.length, hf.config.vocab_size);
  assert.equal(toks[200019], '[PAD0]');
  assert.equal(g.kv.get('tokenizer.ggml.token_type')[200019], 4);
  assert.deepEqual(g.tensors.map(x => [x.name, x.typeName, x.ne.join()]), l.tensors.map(x => [x.name, x.typeName, x.ne.join()]));
  for (const name of ['blk.1.ffn_up_exps.weight', 'blk.0.ffn_gate_exps.bias'])
    assert.ok(tensorBytes(ol, g, name).equals(tensorBytes(gguf, l, name)), name);
});

test('mounted model.gguf: same bytes as the conversion and same logits', async (t) => {
  assert.ok(fs.existsSync(GGUFFS), `${GGUFFS} not built`);
  const m = await mountGguffs(tmp, dir(), { timeoutMs: 20000 });
  try {
    assert.equal(sha(m.path), sha(gguf), 'mounted bytes differ from gguffs-convert output');
    const r = compareLogits(await logitsOf(m.path), ref);
    t.diagnostic(`${FX}: mounted in ${m.ms} ms; ${formatComparison(r)}`);
    assertMatches(r, `${FX} mounted`, TOL);
  } finally {
    await unmountGguffs(m);
    fs.rmSync(m.mnt, { recursive: true, force: true });
  }
});
