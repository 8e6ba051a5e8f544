// End-to-end: tiny Qwen2 / Qwen3 / Qwen3-MoE fixtures (make-qwen.mjs) ->
// gguffs-convert and the gguffs mount -> real llama.cpp (arch qwen2, qwen3,
// qwen3moe) -> logits against lm-reference.mjs's float64 forward pass, one
// negative control per fixture (biases dropped, yarn dropped, q/k norms
// skipped, experts in lexical order), llama.cpp's token ids against the HF
// Qwen tokenizer, and the ollama profile: Ollama's Qwen2 file (which
// llama.cpp runs too), its refusal of a yarn config it cannot decode, and
// the llamacpp output for the classes Ollama has no converter for.
//
// Env: GGUFFS_BUILD, GGUFFS_FIXTURES (see harness.mjs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readGguf, patchTensors, filledWith, lexicalExperts, GGUF_TYPE } from './gguf.mjs';
import { FIXTURES, CONVERT, run, convertModel, ensureFixtures, makeTmp, removeTmp, startLlama, sha256File,
  compareLogits, formatComparison, assertMatches } from './harness.mjs';
import { fixtureSuite, assertTokenizesLikeHf, COMMON_TEXTS, TOL_DENSE, TOL_MOE, BF16_TOL } from './lm-family.mjs';

const NAMES = ['qwen2-tiny', 'qwen2-yarn-tied', 'qwen3-tiny', 'qwen3moe-tiny'];
const QWEN_VOCAB = 151936, QWEN_TOKENS = 151669;

let tmp, llama;

before(async () => {
  assert.ok(fs.existsSync(CONVERT), `${CONVERT} not built`);
  ensureFixtures('make-qwen.mjs', NAMES);
  tmp = makeTmp('gguffs-qwen-e2e-');
  llama = await startLlama();
});

after(async () => {
  if (llama) await llama.dispose();
  removeTmp(tmp);
});

const kvOf = (g, arch) => k => g.kv.get(`${arch}.${k}`);

// What every Qwen file shares: KVs from the config, no Q/K permutation
// (the bytes of attn_q are the source's), Qwen's vocabulary as
// convert_hf_to_gguf's gpt2 path has it.
function commonHeader(g, hf, arch) {
  const c = hf.config, kv = kvOf(g, arch);
  assert.equal(g.kv.get('general.architecture'), arch);
  assert.equal(kv('block_count'), c.num_hidden_layers);
  assert.equal(kv('context_length'), c.max_position_embeddings);
  assert.equal(kv('embedding_length'), c.hidden_size);
  assert.equal(kv('attention.head_count'), c.num_attention_heads);
  assert.equal(kv('attention.head_count_kv'), c.num_key_value_heads);
  assert.ok(Math.abs(kv('attention.layer_norm_rms_epsilon') - c.rms_norm_eps) < 1e-12);
  assert.equal(kv('rope.freq_base'), c.rope_theta);
  assert.equal(g.kv.get('tokenizer.ggml.model'), 'gpt2');
  assert.equal(g.kv.get('tokenizer.ggml.pre'), 'qwen2');
  const tokens = g.kv.get('tokenizer.ggml.tokens'), types = g.kv.get('tokenizer.ggml.token_type');
  assert.equal(tokens.length, QWEN_VOCAB, 'vocabulary padded to vocab_size');
  assert.equal(tokens[QWEN_TOKENS], `[PAD${QWEN_TOKENS}]`);
  assert.equal(types[QWEN_TOKENS], 5, 'padding is UNUSED, as convert_hf_to_gguf writes it');
  assert.equal(types[tokens.indexOf('<|im_start|>')], 3);
  assert.equal(types[tokens.indexOf('<|fim_prefix|>')], 3, 'special-looking added tokens are CONTROL');
  assert.ok(!g.kv.has('tokenizer.ggml.scores'));
  const byName = new Map(g.tensors.map(t => [t.name, t]));
  assert.deepEqual(byName.get('token_embd.weight').ne, [c.hidden_size, QWEN_VOCAB]);
  assert.equal(byName.has('output.weight'), !c.tie_word_embeddings);
  assert.ok(!g.tensors.some(t => t.name.includes('rope_freqs')));
  // No permutation: attn_q holds the source's bytes (same type here).
  const q = byName.get('blk.1.attn_q.weight');
  const src = hf.index.get('model.layers.1.self_attn.q_proj.weight');
  assert.deepEqual(q.ne, [...src.shape].reverse());
  const buf = fs.readFileSync(g.path), f = fs.readFileSync(src.file);
  if (q.typeName === src.dtype)
    assert.ok(buf.subarray(g.dataStart + q.offset, g.dataStart + q.offset + q.nbytes).equals(f.subarray(src.begin, src.end)),
      'attn_q differs from q_proj: a permutation or conversion where there must be none');
  return byName;
}

// A copy of fixture fx's directory (symlinks) with config edited by edit.
function configVariant(fx, edit) {
  const src = path.join(FIXTURES, fx), dir = fs.mkdtempSync(path.join(tmp, `${fx}-var-`));
  for (const f of fs.readdirSync(src))
    if (f !== 'config.json') fs.symlinkSync(path.join(src, f), path.join(dir, f));
  const c = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
  edit(c);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c));
  return dir;
}

const sameAsLlamacpp = name => async (t, st) => {
  const out = path.join(tmp, `${name}-ollama.gguf`);
  const r = convertModel(path.join(FIXTURES, name), 'profile=ollama', out);
  assert.match(r.stderr, /Ollama's converter has no case for this architecture/);
  assert.equal(sha256File(out), sha256File(st.gguf), 'profile=ollama must give the llamacpp bytes');
  fs.rmSync(out);
};

const FIXTURE_SPECS = [
  {
    name: 'qwen2-tiny', tol: TOL_DENSE, prompt: [64, 0, 151000],
    header: (g, hf) => {
      const byName = commonHeader(g, hf, 'qwen2');
      for (const n of ['attn_q', 'attn_k', 'attn_v']) assert.equal(byName.get(`blk.0.${n}.bias`).typeName, 'F32');
      assert.equal(byName.get('blk.0.attn_q.weight').typeName, 'BF16');
      assert.ok(!g.kv.has('qwen2.rope.dimension_count') && !g.kv.has('qwen2.attention.key_length'));
    },
    negatives: [{
      what: 'q/k/v biases dropped',
      make: (conv, bad) => patchTensors(conv, bad, n => /attn_[qkv]\.bias$/.test(n), filledWith(0)).length,
    }],
    // Ollama's qwen2Model: the same tensors, its vocabulary (scores, USER_DEFINED
    // padding); llama.cpp runs that file too.
    ollama: async (t, st, logits) => {
      const out = path.join(tmp, 'qwen2-tiny-ollama.gguf');
      const r = convertModel(path.join(FIXTURES, 'qwen2-tiny'), 'profile=ollama', out);
      assert.equal(r.stderr.includes('note:'), false, 'Ollama converts Qwen2: no notice');
      const g = readGguf(out), l = readGguf(st.gguf);
      assert.deepEqual(g.tensors.map(x => [x.name, x.typeName, x.ne]), l.tensors.map(x => [x.name, x.typeName, x.ne]));
      const types = g.kv.get('tokenizer.ggml.token_type');
      assert.equal(types[QWEN_TOKENS], 4, "Ollama's padding is USER_DEFINED");
      assert.equal(g.kv.get('tokenizer.ggml.tokens')[QWEN_TOKENS], '[PAD0]');
      assert.ok(g.kv.has('tokenizer.ggml.scores'));
      const c = compareLogits(await logits(out), st.ref);
      t.diagnostic(`qwen2-tiny profile=ollama: ${formatComparison(c)}`);
      assertMatches(c, 'qwen2 profile=ollama', BF16_TOL);
      fs.rmSync(out);
    },
  },
  {
    name: 'qwen2-yarn-tied', tol: TOL_DENSE, prompt: [64, 0, 151000],
    header: (g, hf) => {
      commonHeader(g, hf, 'qwen2');
      const kv = kvOf(g, 'qwen2');
      assert.equal(kv('rope.scaling.type'), 'yarn');
      assert.equal(kv('rope.scaling.factor'), 4);
      assert.equal(kv('rope.scaling.original_context_length'), 32768);
      assert.equal(g.kvTypes.get('qwen2.rope.scaling.original_context_length'), GGUF_TYPE.UINT32);
    },
    negatives: [{
      what: 'yarn rope scaling dropped',
      make: (conv, bad) => {
        convertModel(configVariant('qwen2-yarn-tied', c => { c.rope_scaling = null; }), 'profile=llamacpp', bad);
        return readGguf(bad).kv.has('qwen2.rope.scaling.type') ? 0 : 1;
      },
    }],
    ollama: async () => {
      const r = run(CONVERT, ['-o', 'profile=ollama', path.join(FIXTURES, 'qwen2-yarn-tied'), path.join(tmp, 'x.gguf')]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /rope_scaling\.factor is a number, which Ollama's qwen2 converter cannot read/);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    },
  },
  {
    name: 'qwen3-tiny', tol: TOL_DENSE, prompt: [64, 0, 151000],
    header: (g, hf) => {
      const byName = commonHeader(g, hf, 'qwen3');
      const hd = hf.config.head_dim;
      assert.equal(kvOf(g, 'qwen3')('attention.key_length'), hd);
      assert.equal(kvOf(g, 'qwen3')('attention.value_length'), hd);
      for (const n of ['attn_q_norm', 'attn_k_norm']) {
        assert.deepEqual(byName.get(`blk.1.${n}.weight`).ne, [hd]);
        assert.equal(byName.get(`blk.1.${n}.weight`).typeName, 'F32');
      }
      assert.deepEqual(byName.get('blk.1.attn_q.weight').ne, [hf.config.hidden_size, hf.config.num_attention_heads * hd]);
    },
    negatives: [{
      what: 'q/k norms skipped (weights 1)',
      make: (conv, bad) => patchTensors(conv, bad, n => /attn_[qk]_norm\.weight$/.test(n), filledWith(1)).length,
    }],
    ollama: sameAsLlamacpp('qwen3-tiny'),
  },
  {
    name: 'qwen3moe-tiny', tol: TOL_MOE, prompt: [24, 0, 151000],
    header: (g, hf) => {
      const byName = commonHeader(g, hf, 'qwen3moe');
      const c = hf.config, kv = kvOf(g, 'qwen3moe');
      assert.equal(kv('expert_count'), c.num_experts);
      assert.equal(kv('expert_used_count'), c.num_experts_per_tok);
      assert.equal(kv('expert_feed_forward_length'), c.moe_intermediate_size);
      assert.equal(byName.get('blk.0.ffn_gate_inp.weight').typeName, 'F32');
      assert.deepEqual(byName.get('blk.0.ffn_gate_inp.weight').ne, [c.hidden_size, c.num_experts]);
      assert.deepEqual(byName.get('blk.1.ffn_down_exps.weight').ne, [c.moe_intermediate_size, c.hidden_size, c.num_experts]);
      assert.ok(!g.tensors.some(t => /mlp\.experts/.test(t.name)), 'no per-expert tensors left');
      // Expert 10 sits at index 10 (numeric order), byte for byte.
      const t = byName.get('blk.1.ffn_up_exps.weight'), per = t.nbytes / c.num_experts;
      const s = hf.index.get('model.layers.1.mlp.experts.10.up_proj.weight');
      const buf = fs.readFileSync(g.path), f = fs.readFileSync(s.file);
      assert.ok(buf.subarray(g.dataStart + t.offset + 10 * per, g.dataStart + t.offset + 11 * per)
        .equals(f.subarray(s.begin, s.end)), 'expert 10 is not at index 10');
    },
    negatives: [{
      what: 'experts in lexical order',
      make: (conv, bad) => patchTensors(conv, bad, n => /_exps\.weight$/.test(n), lexicalExperts).length,
    }],
    ollama: sameAsLlamacpp('qwen3moe-tiny'),
  },
];

for (const fx of FIXTURE_SPECS) fixtureSuite(() => llama, () => tmp, fx);

const QWEN_TEXTS = [
  ...COMMON_TEXTS,
  '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n',
  '<think>\nLet me see: 2 + 2 = 4.\n</think>\n\nThe answer is 4.<|im_end|><|endoftext|>',
  '<|fim_prefix|>def add(a, b):<|fim_suffix|>\n    return c<|fim_middle|>',
  '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>',
];

test('llama.cpp tokenizes the Qwen files like the HF tokenizer', async () => {
  for (const name of ['qwen2-tiny', 'qwen3-tiny']) {
    const file = path.join(tmp, `${name}-tok.gguf`);
    convertModel(path.join(FIXTURES, name), 'profile=llamacpp', file);
    await assertTokenizesLikeHf(llama, file, path.join(FIXTURES, name), QWEN_TEXTS);
    fs.rmSync(file);
  }
});
