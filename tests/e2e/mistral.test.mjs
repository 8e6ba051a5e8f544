// End-to-end: tiny Mistral / Mixtral fixtures (make-mistral.mjs) ->
// gguffs-convert and the gguffs mount -> real llama.cpp (arch llama) ->
// logits against lm-reference.mjs's float64 forward pass, one negative
// control per fixture (Q/K without the rotary permutation, w1/w3 swapped),
// llama.cpp's token ids against the HF tokenizer for the SentencePiece
// vocabulary from tokenizer.model and the one built from tokenizer.json,
// and the ollama profile: the llamacpp output for Mistral (Ollama has no
// converter), Ollama's Mixtral file with w2/w3 stacked the right way.
//
// Env: GGUFFS_BUILD, GGUFFS_FIXTURES (see harness.mjs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readGguf, writeUnpermutedCopy, writeSwappedCopy, unpermuteRows, GGML_TYPE } from './gguf.mjs';
import { FIXTURES, CONVERT, convertModel, ensureFixtures, makeTmp, removeTmp, startLlama, sha256File,
  compareLogits, formatComparison, assertMatches } from './harness.mjs';
import { fixtureSuite, assertTokenizesLikeHf, COMMON_TEXTS, TOL_DENSE, TOL_MOE } from './lm-family.mjs';

const NAMES = ['mistral-tiny', 'mistral-json', 'mixtral-tiny'];

let tmp, llama;

before(async () => {
  assert.ok(fs.existsSync(CONVERT), `${CONVERT} not built`);
  ensureFixtures('make-mistral.mjs', NAMES);
  tmp = makeTmp('gguffs-mistral-e2e-');
  llama = await startLlama();
});

after(async () => {
  if (llama) await llama.dispose();
  removeTmp(tmp);
});

// The source tensor's bytes, and the GGUF tensor's.
function bytesOf(g, name) {
  const t = g.tensors.find(x => x.name === name);
  return fs.readFileSync(g.path).subarray(g.dataStart + t.offset, g.dataStart + t.offset + t.nbytes);
}
function sourceBytes(hf, name) {
  const s = hf.index.get(name);
  return fs.readFileSync(s.file).subarray(s.begin, s.end);
}

// llama KVs as llama.cpp needs them, Q/K permuted (the un-permuted bytes
// are the source's), a SentencePiece vocabulary.
function commonHeader(g, hf) {
  const c = hf.config, kv = k => g.kv.get(`llama.${k}`);
  const hd = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  assert.equal(g.kv.get('general.architecture'), 'llama');
  assert.equal(kv('rope.dimension_count'), hd, 'rope dim = head_dim');
  assert.equal(kv('attention.head_count_kv'), c.num_key_value_heads);
  assert.equal(kv('vocab_size'), 32000);
  assert.equal(g.kv.get('tokenizer.ggml.model'), 'llama');
  assert.equal(g.kv.get('tokenizer.ggml.tokens').length, 32000);
  assert.equal(g.kv.get('tokenizer.ggml.token_type')[3], 6, '<0x00> is a BYTE token');
  assert.equal(g.kv.get('tokenizer.ggml.bos_token_id'), 1);
  assert.equal(g.kv.get('tokenizer.ggml.eos_token_id'), 2);
  for (const [gname, hname, heads] of [['blk.1.attn_q.weight', 'model.layers.1.self_attn.q_proj.weight', c.num_attention_heads],
    ['blk.1.attn_k.weight', 'model.layers.1.self_attn.k_proj.weight', c.num_key_value_heads]]) {
    const t = g.tensors.find(x => x.name === gname), rowBytes = t.ne[0] * GGML_TYPE[t.type][2];
    assert.ok(unpermuteRows(bytesOf(g, gname), t.ne[1], rowBytes, heads).equals(sourceBytes(hf, hname)),
      `${gname} is not ${hname} permuted for ${heads} heads`);
  }
  assert.ok(!g.tensors.some(t => t.name === 'rope_freqs.weight'));
}

const sameAsLlamacpp = name => async (t, st) => {
  const out = path.join(tmp, `${name}-ollama.gguf`);
  const r = convertModel(path.join(FIXTURES, name), 'profile=ollama', out);
  assert.match(r.stderr, /MistralForCausalLM: Ollama's converter has no case/);
  assert.equal(sha256File(out), sha256File(st.gguf), 'profile=ollama must give the llamacpp bytes');
  fs.rmSync(out);
};

const unpermuted = { what: 'Q/K without the rotary permutation',
  make: (conv, bad) => writeUnpermutedCopy(conv, bad).length };

const FIXTURE_SPECS = [
  {
    name: 'mistral-tiny', tol: TOL_DENSE, prompt: [64, 3, 32000],
    header: (g, hf) => {
      commonHeader(g, hf);
      assert.equal(g.kv.get('llama.attention.key_length'), hf.config.head_dim);
      // The vocabulary of tokenizer.model: its scores.
      assert.ok(g.kv.get('tokenizer.ggml.scores').slice(259, 300).every(s => s < 0));
    },
    negatives: [unpermuted],
    ollama: sameAsLlamacpp('mistral-tiny'),
  },
  {
    name: 'mistral-json', tol: TOL_DENSE, prompt: [64, 3, 32000],
    header: (g, hf) => {
      commonHeader(g, hf);
      assert.ok(!fs.existsSync(path.join(FIXTURES, 'mistral-json', 'tokenizer.model')));
      assert.ok(!g.kv.has('llama.attention.key_length'));
    },
    negatives: [unpermuted],
    ollama: sameAsLlamacpp('mistral-json'),
  },
  {
    name: 'mixtral-tiny', tol: TOL_MOE, prompt: [24, 3, 32000],
    header: (g, hf) => {
      commonHeader(g, hf);
      const c = hf.config, E = c.num_local_experts;
      assert.equal(g.kv.get('llama.expert_count'), E);
      assert.equal(g.kv.get('llama.expert_used_count'), c.num_experts_per_tok);
      const byName = new Map(g.tensors.map(t => [t.name, t]));
      assert.equal(byName.get('blk.0.ffn_gate_inp.weight').typeName, 'F32');
      assert.deepEqual(byName.get('blk.0.ffn_down_exps.weight').ne, [c.intermediate_size, c.hidden_size, E]);
      assert.deepEqual(byName.get('blk.0.ffn_up_exps.weight').ne, [c.hidden_size, c.intermediate_size, E]);
      // w1 gate, w2 down, w3 up; expert 10 at index 10.
      for (const [kind, w] of [['gate', 'w1'], ['down', 'w2'], ['up', 'w3']]) {
        const d = bytesOf(g, `blk.1.ffn_${kind}_exps.weight`), per = d.length / E;
        assert.ok(d.subarray(10 * per, 11 * per).equals(sourceBytes(hf, `model.layers.1.block_sparse_moe.experts.10.${w}.weight`)),
          `ffn_${kind}_exps[10] is not experts.10.${w}`);
      }
    },
    negatives: [{
      what: 'w1/w3 swapped (gate and up experts exchanged)',
      make: (conv, bad) => writeSwappedCopy(conv, bad, /ffn_gate_exps\.weight$/, n => n.replace('gate_exps', 'up_exps')),
    }],
    // Ollama's Mixtral file with its w2/w3 mix-up corrected: llama.cpp runs it.
    ollama: async (t, st, logits) => {
      const out = path.join(tmp, 'mixtral-tiny-ollama.gguf');
      const r = convertModel(path.join(FIXTURES, 'mixtral-tiny'), 'profile=ollama', out);
      assert.match(r.stderr, /stacks w2 \(the down projection\) as ffn_up_exps/);
      const c = compareLogits(await logits(out), st.ref);
      t.diagnostic(`mixtral-tiny profile=ollama: ${formatComparison(c)}`);
      assertMatches(c, 'mixtral profile=ollama', TOL_MOE);
      fs.rmSync(out);
    },
  },
];

for (const fx of FIXTURE_SPECS) fixtureSuite(() => llama, () => tmp, fx);

const MISTRAL_TEXTS = [
  ...COMMON_TEXTS,
  '<s>[INST] What is 2 + 2? [/INST] 4</s>',
  'A sentence with <unk> in it, and </s> at the end',
];

test('llama.cpp tokenizes the Mistral files like the HF tokenizer (tokenizer.model and tokenizer.json only)', async () => {
  for (const name of ['mistral-tiny', 'mistral-json']) {
    const file = path.join(tmp, `${name}-tok.gguf`);
    convertModel(path.join(FIXTURES, name), 'profile=llamacpp', file);
    await assertTokenizesLikeHf(llama, file, path.join(FIXTURES, name), MISTRAL_TEXTS);
    fs.rmSync(file);
  }
});
