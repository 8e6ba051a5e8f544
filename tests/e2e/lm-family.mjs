// What the end-to-end tests of the Llama-like families (qwen.test.mjs,
// mistral.test.mjs) share: per fixture, gguffs-convert's llamacpp file in
// real llama.cpp against lm-reference.mjs's float64 forward pass (the file
// itself, and for BF16 weights also its exact F32 widening, since llama.cpp
// rounds activations to BF16 against BF16 weights), the mounted file equal
// to it byte for byte and giving the same logits, and each negative control
// (a deliberately broken conversion) rejected by the same comparison; and
// llama.cpp's token ids against the HF tokenizer (@lenml/tokenizers).

import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadHfModel } from './reference.mjs';
import { lmForward } from './lm-reference.mjs';
import { readGguf, writeWidenedF32 } from './gguf.mjs';
import { FIXTURES, convertModel, xorshift32, fileLogits, withModel, compareLogits, formatComparison,
  assertMatches, assertRejected, mountGguffs, unmountGguffs, sha256File } from './harness.mjs';

// Tolerances of the acceptance list: dense 0.05, MoE 0.1 (llama.cpp against
// float64, F16 or F32 weights); a BF16 file itself gets BF16_TOL (llama.cpp
// multiplies BF16 weights by BF16-rounded activations: measured 0.10-0.11
// on these fixtures, against 0.009 for the same bytes widened to F32).
export const TOL_DENSE = 0.05, TOL_MOE = 0.1, BF16_TOL = 0.25;
export const rejectFor = tol => Math.max(0.5, 3 * tol);
const MIN_MARGIN = 0.02;

// The first deterministic prompt (len ids in [lo, hi)) whose every routing
// decision has a clear margin (dense models: the first).
export function referenceFor(hf, len, lo, hi) {
  for (let seed = 1; seed <= 300; seed++) {
    const tokens = [];
    let x = (0x9e3779b9 ^ Math.imul(seed, 0x85ebca6b)) >>> 0 || 1;
    while (tokens.length < len) { x = xorshift32(x); tokens.push(lo + (x % (hi - lo))); }
    const r = lmForward(hf, tokens);
    if (r.minMargin > MIN_MARGIN) return { tokens, ref: r.logits, seed, minMargin: r.minMargin };
  }
  throw new Error('no prompt without a routing near-tie');
}

// describe() a fixture: st gets {hf, gguf, tokens, ref, got}. fx: {name, tol,
// prompt: [len, lo, hi], header(g, hf), negatives: [{what, make(conv, bad,
// hf) -> number of tensors changed or a path}], ollama(t, st, convert)}.
export function fixtureSuite(llamaRef, tmpRef, fx) {
  describe(fx.name, () => {
    const st = {};
    const llama = () => llamaRef();
    const logits = file => fileLogits(llama(), file, st.tokens, st.ref.length, { contextSize: 512 });

    before(() => {
      st.hf = loadHfModel(path.join(FIXTURES, fx.name));
      st.gguf = path.join(tmpRef(), `${fx.name}.gguf`);
      convertModel(path.join(FIXTURES, fx.name), 'profile=llamacpp', st.gguf);
      Object.assign(st, referenceFor(st.hf, ...fx.prompt));
      st.bf16 = readGguf(st.gguf).tensors.some(t => t.typeName === 'BF16');
    });

    test('header and tensors as llama.cpp needs them', () =>
      fx.header(Object.assign(readGguf(st.gguf), { path: st.gguf }), st.hf));

    test('converted model.gguf: llama.cpp logits match the float64 reference', async (t) => {
      st.got = await logits(st.gguf);
      const r = compareLogits(st.got, st.ref);
      t.diagnostic(`${fx.name}: ${formatComparison(r)} (prompt seed ${st.seed}, min routing margin ${st.minMargin})`);
      assertMatches(r, fx.name, st.bf16 ? BF16_TOL : fx.tol);
      if (st.bf16) {
        const wide = path.join(tmpRef(), `${fx.name}-f32.gguf`);
        writeWidenedF32(st.gguf, wide);
        const rw = compareLogits(await logits(wide), st.ref);
        t.diagnostic(`${fx.name} widened to F32: ${formatComparison(rw)}`);
        assertMatches(rw, `${fx.name} widened to F32`, fx.tol);
        fs.rmSync(wide);
      }
    });

    for (const neg of fx.negatives) {
      test(`negative control: ${neg.what} is rejected`, async (t) => {
        assert.ok(st.got, 'converted-file logits missing (previous test failed)');
        const bad = path.join(tmpRef(), `${fx.name}-bad.gguf`);
        const changed = neg.make(st.gguf, bad, st.hf);
        assert.ok(changed > 0, `${neg.what}: nothing changed`);
        const r = compareLogits(await logits(bad), st.ref);
        t.diagnostic(`${fx.name}: NEGATIVE (${neg.what}) ${formatComparison(r)}`);
        assertRejected(r, `${fx.name} ${neg.what}`, rejectFor(fx.tol));
        fs.rmSync(bad);
      });
    }

    test('mounted model.gguf: the converted bytes and the same logits', async (t) => {
      assert.ok(st.got, 'converted-file logits missing (previous test failed)');
      const m = await mountGguffs(tmpRef(), path.join(FIXTURES, fx.name));
      try {
        assert.equal(sha256File(m.path), sha256File(st.gguf), 'mounted bytes differ from gguffs-convert');
        const r = compareLogits(await logits(m.path), st.got);
        t.diagnostic(`${fx.name}: mounted in ${m.ms} ms, mount vs converted max|logit diff| ${r.maxDiff}`);
        assert.equal(r.maxDiff, 0, 'llama.cpp on the mount must compute what it computes on the file');
      } finally {
        await unmountGguffs(m);
      }
    });

    if (fx.ollama) test('profile=ollama', async (t) => fx.ollama(t, st, logits));
  });
}

// llama.cpp's ids on a converted file (special tokens parsed; llama.cpp
// adds no BOS here) against the HF tokenizer's without added special
// tokens, on every text.
export async function assertTokenizesLikeHf(llama, file, dir, texts) {
  const { TokenizerLoader } = await import('@lenml/tokenizers');
  const hfTok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')),
  });
  await withModel(llama, file, async model => {
    for (const text of texts) {
      const got = Array.from(model.tokenize(text, true));
      const want = hfTok.encode(text, { add_special_tokens: false });
      assert.deepEqual(got, want, `token ids of ${JSON.stringify(text)}`);
    }
  });
}

// Texts with unicode, emoji, digits, code, whitespace runs.
export const COMMON_TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  'Hello, world!  Multiple   spaces,\ttabs\tand\n\nnewlines \n',
  '    leading and trailing spaces    ',
  'Digits: 0 7 42 1234567890 3.14159 -273.15 1e-5 2024-06-30 ٣٤٥',
  'Unicode: héllo wörld naïve café — 日本語のテキスト 中文 Привет мир ελληνικά 한국어',
  'Emoji: 🦙🚀👍🏽 👨‍👩‍👧 ❤️ 🇯🇵',
  'def f(x):\n    return {"a": [x ** 2, x // 3]}  # code\n\tif (a && b) { c++; }\n',
  "I'm sure they'll say it's fine, don't you think? WE'RE ALL CAPS",
];
