// End-to-end: -o type= mounts against llama.cpp's own quantizer.
//
// For each fixture (rows of 256: k-quants apply; rows of 64: fallbacks),
// profile and type: the pipeline gguffs replaces is built (llamacpp:
// gguffs-convert -o type=F32 then llama_model_quantize, as
// convert_hf_to_gguf --outtype f32 + llama-quantize; ollama: Ollama's file
// then llama_model_quantize, as ollama create --quantize), and
//   - real llama.cpp loads the quantized mount and gives logits identical
//     to the llama-quantize file's (a mount of another type gives other
//     logits: the comparison can fail);
//   - the mount's bytes equal gguffs-convert's;
//   - 8 threads reading random ranges of the mount get gguffs-convert's bytes.
// (Against a float64 forward pass these random-weight fixtures amplify
// quantization noise too much to bound usefully: Q8_0 of llama-q256 is off
// by 2.7 with max|logit| 28.6, where its BF16 mount is off by 0.6; the
// oracle is llama.cpp's own quantizer.)
//
// Env: GGUFFS_BUILD, GGUFFS_FIXTURES (see harness.mjs).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BUILD, FIXTURES, CONVERT, REPO, ensureFixtures, makeTmp, removeTmp, startLlama, fileLogits,
  compareLogits, mountGguffs, unmountGguffs, sha256File, randomReaders } from './harness.mjs';

const QUANTIZE = path.join(BUILD, 'tests', 'llama-quantize-ref');
const BINS = path.join(REPO, 'node_modules', '@node-llama-cpp', 'linux-x64', 'bins', 'linux-x64');
const FTYPE = { Q8_0: 7, Q4_0: 2, Q5_0: 8, Q2_K: 10, Q3_K_M: 12, Q4_K_M: 15, Q5_K_S: 16, Q6_K: 18 };
const CASES = [
  ['llama-q256', ['Q4_K_M', 'Q8_0', 'Q2_K', 'Q3_K_M']],
  ['llama-spm', ['Q4_K_M', 'Q5_0']],
  // A family with stacked experts (make-mistral.mjs): type= applies to it too.
  ['mixtral-tiny', ['Q4_K_M', 'Q8_0'], 'make-mistral.mjs'],
];
const PROFILES = ['llamacpp', 'ollama'];

let tmp, llama;

before(async () => {
  ensureFixtures('make-fixtures.mjs', CASES.filter(c => !c[2]).map(c => c[0]), { only: true });
  for (const [fx, , gen] of CASES) if (gen) ensureFixtures(gen, [fx]);
  tmp = makeTmp('gguffs-quant-');
  llama = await startLlama();
});

after(async () => {
  await llama?.dispose();
  removeTmp(tmp);
});

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${path.basename(cmd)} ${args.join(' ')}: ${r.stderr}`);
}

const convert = (fx, opts, out) => run(CONVERT, ['-o', opts, path.join(FIXTURES, fx), out]);

// A prompt of token ids for a 512-piece vocabulary (bos first).
const PROMPT = [1, ...Array.from({ length: 31 }, (_, i) => 3 + ((i * 37 + 11) % 500))];

for (const [fx, types] of CASES) {
  for (const profile of PROFILES) {
    describe(`${fx} profile=${profile}`, () => {
      let input, V;
      before(() => {
        input = path.join(tmp, `${fx}-${profile}-in.gguf`);
        convert(fx, profile === 'llamacpp' ? 'profile=llamacpp,type=F32' : 'profile=ollama', input);
        V = JSON.parse(fs.readFileSync(path.join(FIXTURES, fx, 'config.json'), 'utf8')).vocab_size;
      });

      for (const type of types) {
        test(`type=${type}: llama.cpp on the mount == on llama-quantize's file; mount == convert; 8 random readers`, async () => {
          const want = path.join(tmp, `${fx}-${profile}-${type}-llama.gguf`);
          const conv = path.join(tmp, `${fx}-${profile}-${type}-gguffs.gguf`);
          run(QUANTIZE, [BINS, input, want, String(FTYPE[type]), '2']);
          convert(fx, `profile=${profile},type=${type}`, conv);
          const m = await mountGguffs(tmp, path.join(FIXTURES, fx), { opts: `profile=${profile},type=${type}` });
          try {
            assert.equal(sha256File(m.path), sha256File(conv), 'mount bytes != gguffs-convert bytes');
            const got = await fileLogits(llama, m.path, PROMPT, V);
            const ref = await fileLogits(llama, want, PROMPT, V);
            const r = compareLogits(got, ref);
            assert.equal(r.maxDiff, 0, `logits of the mount differ from llama-quantize's file's: ${r.maxDiff}`);
            const res = await randomReaders(m.path, conv, { iters: 60, maxLen: 1 << 20 });
            for (const x of res) assert.equal(x.bad, null, x.bad);
            const stats = JSON.parse(fs.readFileSync(path.join(m.mnt, 'stats.json'), 'utf8'));
            assert.ok(stats.quant.chunks > 0 && stats.quant.bytes > 0, 'stats.json counts no quantized chunk');
            const meta = JSON.parse(fs.readFileSync(path.join(m.mnt, 'metadata.json'), 'utf8'));
            assert.equal(meta.type, type);
            const q = meta.tensors.find(t => t.name === 'blk.0.ffn_up.weight' || t.name === 'blk.0.ffn_up_exps.weight');
            assert.match(q.type, /^Q/, 'metadata.json names the quantized type');
            // The values quantized: exact source values, or Ollama's F16/BF16.
            assert.equal(q.values, profile === 'llamacpp' ? 'F32' : fx === 'llama-q256' ? 'BF16' : 'F16');
          } finally {
            await unmountGguffs(m);
            fs.rmSync(want, { force: true });
            fs.rmSync(conv, { force: true });
          }
        });
      }

      test('negative control: another type gives other logits', async () => {
        const a = path.join(tmp, `${fx}-${profile}-a.gguf`), b = path.join(tmp, `${fx}-${profile}-b.gguf`);
        convert(fx, `profile=${profile},type=${types[0]}`, a);
        convert(fx, `profile=${profile},type=${types[1]}`, b);
        const r = compareLogits(await fileLogits(llama, a, PROMPT, V), await fileLogits(llama, b, PROMPT, V));
        assert.ok(r.maxDiff > 1e-4, `${types[0]} and ${types[1]} give the same logits (${r.maxDiff})`);
        fs.rmSync(a, { force: true });
        fs.rmSync(b, { force: true });
      });
    });
  }
}

// -o cache_dir=: every chunk found in the store's files of an earlier mount.
function storeFiles(dir) {
  const out = [];
  for (const sub of fs.readdirSync(dir))
    for (const f of fs.readdirSync(path.join(dir, sub)))
      if (f.endsWith('.chunk')) out.push(path.join(dir, sub, f));
  return out.sort();
}

describe('chunk store (-o cache_dir=)', () => {
  const fx = 'llama-q256', opts = 'type=Q4_K_M';
  let store, conv;
  before(() => {
    store = path.join(tmp, 'store');
    conv = path.join(tmp, 'store-convert.gguf');
    convert(fx, opts, conv);
  });

  const mountRead = async (extra = '') => {
    const m = await mountGguffs(tmp, path.join(FIXTURES, fx), { opts: `${opts},cache_dir=${store}${extra}` });
    try {
      const sha = sha256File(m.path);
      const st = JSON.parse(fs.readFileSync(path.join(m.mnt, 'stats.json'), 'utf8')).store;
      return { sha, st };
    } finally { await unmountGguffs(m); }
  };

  test('survives a daemon restart: the second mount computes nothing', async () => {
    const a = await mountRead();
    assert.equal(a.sha, sha256File(conv));
    assert.ok(a.st.enabled && a.st.writes > 0 && a.st.hits === 0, JSON.stringify(a.st));
    const b = await mountRead();
    assert.equal(b.sha, sha256File(conv));
    assert.equal(b.st.misses, 0, JSON.stringify(b.st));
    assert.equal(b.st.hits, a.st.writes);
    assert.equal(b.st.writes, 0);
  });

  test('a corrupted, a truncated and a foreign file are never served, and are rewritten', async () => {
    const files = storeFiles(store);
    assert.ok(files.length >= 3);
    const fd = fs.openSync(files[0], 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, 100);
    b[0] ^= 1;
    fs.writeSync(fd, b, 0, 1, 100);
    fs.closeSync(fd);
    fs.truncateSync(files[1], 1000);
    fs.copyFileSync(files[3], files[2]); /* another key's good file */
    const r = await mountRead();
    assert.equal(r.sha, sha256File(conv), 'bytes served from a damaged store');
    assert.equal(r.st.bad_files, 3, JSON.stringify(r.st));
    assert.equal(r.st.writes, 3, JSON.stringify(r.st));
    const again = await mountRead();
    assert.equal(again.st.misses, 0, JSON.stringify(again.st));
  });

  test('two mounts sharing one cache_dir at once, 8 random readers each, stay correct', async () => {
    const other = path.join(tmp, 'store-convert-q8.gguf');
    convert(fx, 'type=Q8_0', other);
    fs.rmSync(store, { recursive: true, force: true });
    const a = await mountGguffs(tmp, path.join(FIXTURES, fx), { opts: `${opts},cache_dir=${store}` });
    const b = await mountGguffs(tmp, path.join(FIXTURES, fx), { opts: `type=Q8_0,cache_dir=${store},disk_cache_size=4M` });
    try {
      const res = await Promise.all([
        randomReaders(a.path, conv, { iters: 80, maxLen: 1 << 20 }),
        randomReaders(b.path, other, { iters: 80, maxLen: 1 << 20 }),
      ]);
      for (const x of res.flat()) assert.equal(x.bad, null, x.bad);
      assert.equal(sha256File(a.path), sha256File(conv));
      assert.equal(sha256File(b.path), sha256File(other));
    } finally {
      await unmountGguffs(a);
      await unmountGguffs(b);
    }
  });
});
