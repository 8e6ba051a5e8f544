// End-to-end: tiny Phi-3.5-mini-shaped and Phi-4-mini-shaped fixtures
// (Phi3ForCausalLM) -> gguffs-convert and the gguffs mount -> real llama.cpp
// (arch phi3) -> next-token logits against phi3-reference.mjs (transformers'
// semantics in float64: fused qkv and gate_up, longrope, partial rotary);
// token ids against the HF tokenizer; Ollama's rules in the ollama profile.
//
// Tolerance. llama.cpp rounds activations to BF16 before BF16 products;
// with heads of std 0.1 (logits up to ~4) a correct file lands at 0.02-0.05
// over prompts: TOL 0.05 as the issue sets it. qkv split in the wrong order
// or gate/up swapped land at 3 or more: REJECT 1.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadHfModel } from './reference.mjs';
import { phi3Forward, phi3RopeParams } from './phi3-reference.mjs';
import { readGguf, patchTensors } from './gguf.mjs';
import { tokenizerTexts, tokenMismatches } from './tok-texts.mjs';
import { FIXTURES, CONVERT, GGUFFS, convertModel, ensureFixtures, makeTmp, removeTmp, sha256File as sha,
  xorshift32, startLlama, fileLogits, compareLogits, formatComparison, assertMatches, assertRejected,
  mountGguffs, unmountGguffs } from './harness.mjs';

const FIXTURE_NAMES = ['phi3-tiny', 'phi4-mini-tiny'];
const TOL = 0.05;
const REJECT = 1;

let tmp, llama;

function promptTokens(bos, range) {
  const out = [bos];
  let x = (0x9e3779b9 ^ 0x85ebca6b) >>> 0;
  while (out.length < 24) { x = xorshift32(x); out.push(1000 + (x % range)); }
  return out;
}

// Swap two row ranges [a, a+n) and [b, b+n) of a 2-D tensor's bytes.
function swapRows(bytes, rowBytes, a, b, n) {
  const out = Buffer.from(bytes);
  bytes.copy(out, b * rowBytes, a * rowBytes, (a + n) * rowBytes);
  bytes.copy(out, a * rowBytes, b * rowBytes, (b + n) * rowBytes);
  return out;
}

before(async () => {
  assert.ok(fs.existsSync(CONVERT), `${CONVERT} not found`);
  ensureFixtures('make-phi3.mjs', FIXTURE_NAMES);
  tmp = makeTmp('gguffs-phi3-e2e-');
  llama = await startLlama();
});

after(async () => {
  if (llama) await llama.dispose();
  removeTmp(tmp);
});

for (const fx of FIXTURE_NAMES) {
  describe(fx, () => {
    const st = {};
    const dir = path.join(FIXTURES, fx);
    const phi4 = fx === 'phi4-mini-tiny';
    before(() => {
      st.hf = loadHfModel(dir);
      st.c = st.hf.config;
      st.rope = phi3RopeParams(st.c);
      st.tokens = promptTokens(st.c.bos_token_id, phi4 ? 190000 : 30000);
      st.ref = phi3Forward(st.hf, st.tokens);
      st.gguf = path.join(tmp, `${fx}.gguf`);
      convertModel(dir, 'profile=llamacpp', st.gguf);
    });
    const logitsOf = file => fileLogits(llama, file, st.tokens, st.ref.length, { contextSize: 256 });

    test('header: fused tensors kept, longrope factors, rotary dimension', () => {
      const g = readGguf(st.gguf), c = st.c;
      const H = c.hidden_size, hd = H / c.num_attention_heads;
      assert.equal(g.kv.get('general.architecture'), 'phi3');
      assert.equal(g.kv.get('phi3.rope.dimension_count'), st.rope.rot);
      assert.equal(g.kv.get('phi3.rope.scaling.original_context_length'), c.original_max_position_embeddings);
      assert.equal(g.kv.get('phi3.attention.sliding_window'), c.sliding_window);
      assert.ok(Math.abs(g.kv.get('phi3.rope.scaling.attn_factor') - st.rope.mscale) < 1e-6);
      const byName = new Map(g.tensors.map(t => [t.name, t]));
      assert.deepEqual(byName.get('blk.0.attn_qkv.weight').ne, [H, (c.num_attention_heads + 2 * c.num_key_value_heads) * hd]);
      assert.deepEqual(byName.get('blk.0.ffn_up.weight').ne, [H, 2 * c.intermediate_size]);
      for (const n of ['rope_factors_long.weight', 'rope_factors_short.weight']) {
        assert.deepEqual(byName.get(n).ne, [st.rope.rot / 2]);
        assert.equal(byName.get(n).typeName, 'F32');
      }
      assert.equal(byName.has('output.weight'), !c.tie_word_embeddings);
      const toks = g.kv.get('tokenizer.ggml.tokens');
      assert.equal(toks.length, c.vocab_size);
      if (phi4) {
        assert.equal(g.kv.get('tokenizer.ggml.model'), 'gpt2');
        assert.equal(g.kv.get('tokenizer.ggml.pre'), 'granite-embed-multi-97m');
      } else {
        assert.equal(g.kv.get('tokenizer.ggml.model'), 'llama');
        assert.equal(toks[32000], '<|endoftext|>');
        assert.equal(g.kv.get('tokenizer.ggml.token_type')[32007], 3); // <|end|>, special
        assert.equal(toks[32063], '[PAD32063]');
      }
    });

    test('converted model: llama.cpp logits match the float64 reference', async (t) => {
      const r = compareLogits(await logitsOf(st.gguf), st.ref);
      t.diagnostic(`${fx}: ${formatComparison(r)}`);
      assertMatches(r, fx, TOL);
    });

    test(phi4 ? 'negative control: gate/up swapped is rejected' : 'negative control: qkv split in the wrong order (k, q, v) is rejected', async (t) => {
      const bad = path.join(tmp, `${fx}-bad.gguf`), c = st.c, hd = c.hidden_size / c.num_attention_heads;
      const changed = patchTensors(st.gguf, bad, n => (phi4 ? /ffn_up\.weight$/ : /attn_qkv\.weight$/).test(n), (bytes, tt) => {
        const rowBytes = bytes.length / tt.ne[1];
        return phi4 ? swapRows(bytes, rowBytes, 0, c.intermediate_size, c.intermediate_size)
          : swapRows(bytes, rowBytes, 0, c.num_attention_heads * hd, c.num_key_value_heads * hd);
      });
      assert.equal(changed.length, c.num_hidden_layers);
      const r = compareLogits(await logitsOf(bad), st.ref);
      t.diagnostic(`${fx}: NEGATIVE ${formatComparison(r)}`);
      assertRejected(r, `${fx} broken split`, REJECT);
    });

    test('token ids equal the HF tokenizer', async (t) => {
      // Known difference, left alone: after one of Phi-3's added tokens
      // llama.cpp's SentencePiece tokenizer prepends "▁" to the next word,
      // the HF tokenizer (legacy=false) does not; those texts are skipped.
      const texts = tokenizerTexts().filter(s => phi4 || !/<\|[a-z_0-9]+\|>|<\/?s>/.test(s));
      const bad = await tokenMismatches(llama, st.gguf, dir, texts);
      t.diagnostic(`${texts.length} texts, ${bad.length} differ`);
      assert.deepEqual(bad.slice(0, 3), [], `${bad.length} of ${texts.length} texts tokenize differently`);
    });

    test('ollama profile: Ollama\'s rotary dimension, factor tensors and vocabulary', async () => {
      const ol = path.join(tmp, `${fx}-ollama.gguf`);
      convertModel(dir, 'profile=ollama', ol);
      const g = readGguf(ol), c = st.c;
      assert.equal(g.kv.get('phi3.rope.dimension_count'), c.hidden_size / c.num_attention_heads);
      assert.equal(g.kv.get('phi3.vocab_size'), c.vocab_size);
      const byName = new Map(g.tensors.map(t => [t.name, t]));
      assert.deepEqual(byName.get('rope_factors_long.weight').ne, [c.rope_scaling.long_factor.length]);
      assert.equal(g.kv.get('tokenizer.ggml.tokens').length, c.vocab_size);
      if (phi4) {
        // Ollama ignores partial_rotary_factor: llama.cpp wants n_rot/2 factors and refuses the file
        await assert.rejects(fileLogits(llama, ol, st.tokens, st.ref.length), /load/i);
      } else {
        assert.equal(g.kv.get('tokenizer.ggml.token_type')[32007], 4); // Ollama: USER_DEFINED
      }
    });

    if (!phi4) {
      test('no rope scaling (Phi-3-mini-4k): no factor tensors; Ollama writes two of 0 elements', () => {
        const d = path.join(tmp, 'phi3-norope');
        fs.mkdirSync(d, { recursive: true });
        for (const f of fs.readdirSync(dir)) if (f !== 'config.json') fs.symlinkSync(path.join(dir, f), path.join(d, f));
        fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ ...st.c, rope_scaling: null }));
        const lc = readGguf(convertModel(d, 'profile=llamacpp', path.join(tmp, 'norope.gguf')) && path.join(tmp, 'norope.gguf'));
        assert.ok(!lc.tensors.some(t => t.name.startsWith('rope_factors')));
        assert.ok(!lc.kv.has('phi3.rope.scaling.attn_factor'));
        const ol = readGguf(convertModel(d, 'profile=ollama', path.join(tmp, 'norope-ol.gguf')) && path.join(tmp, 'norope-ol.gguf'));
        assert.deepEqual(ol.tensors.filter(t => t.name.startsWith('rope_factors')).map(t => t.ne), [[0], [0]]);
      });

      test('mounted model.gguf: same bytes as the conversion', async () => {
        assert.ok(fs.existsSync(GGUFFS), `${GGUFFS} not built`);
        const m = await mountGguffs(tmp, dir, { timeoutMs: 20000 });
        try {
          assert.equal(sha(m.path), sha(st.gguf), 'mounted bytes differ from gguffs-convert output');
        } finally {
          await unmountGguffs(m);
          fs.rmSync(m.mnt, { recursive: true, force: true });
        }
      });
    }
  });
}
