// End-to-end for Mllama (Llama 3.2 Vision): no llama.cpp runtime can load it,
// and this test documents that fact against real llama.cpp (node-llama-cpp,
// CPU prebuilt) instead of comparing logits:
//   - gguffs-convert writes the file (both profiles, identical bytes) and
//     prints the notice saying no upstream runtime loads mllama;
//   - llama.cpp refuses it with "unknown model architecture: 'mllama'";
//   - control: the same file with general.architecture patched to a name
//     llama.cpp knows ("llama4", same length) fails differently, so the
//     refusal is about the architecture, not a broken file.
//
// Env: GGUFFS_BUILD (default <repo>/build), GGUFFS_FIXTURES (default
// <repo>/tests/fixtures/out; a missing mllama-tiny is generated).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readGguf, GGUF_TYPE } from './gguf.mjs';
import { BUILD, FIXTURES, CONVERT, convertModel, ensureFixtures, makeTmp, removeTmp, startLlama } from './harness.mjs';
const FIXTURE = 'mllama-tiny';
const NOTICE = /note: mllama: no upstream llama\.cpp runtime loads this architecture/;

let tmp, llama;
const logs = [];

function convert(profile, out) {
  return convertModel(path.join(FIXTURES, FIXTURE), `profile=${profile}`, out);
}

// Try to load; return the error text (exception message + llama.cpp's log
// lines from the attempt), or null when the model loaded.
// llama.cpp's log lines reach the logger asynchronously, so let each
// attempt's lines settle before and after it.
const settle = () => new Promise(resolve => setTimeout(resolve, 300));
async function loadError(file) {
  await settle();
  logs.length = 0;
  let model = null;
  try {
    model = await llama.loadModel({ modelPath: file });
  } catch (err) {
    await settle();
    return `${err?.message ?? err}\n${logs.join('')}`;
  }
  await model.dispose();
  return null;
}

// Rewrite the value of general.architecture in place (same length only).
function patchArch(src, dst, from, to) {
  assert.equal(from.length, to.length);
  const buf = fs.readFileSync(src);
  const key = Buffer.from('general.architecture', 'latin1');
  const at = buf.indexOf(key);
  assert.ok(at > 0, 'general.architecture key not found');
  const val = at + key.length + 4 /* type */ + 8 /* length */;
  assert.equal(buf.readUInt32LE(at + key.length), GGUF_TYPE.STRING);
  assert.equal(Number(buf.readBigUInt64LE(at + key.length + 4)), from.length);
  assert.equal(buf.toString('latin1', val, val + from.length), from);
  buf.write(to, val, 'latin1');
  fs.writeFileSync(dst, buf);
}

before(async () => {
  assert.ok(fs.existsSync(CONVERT), `${CONVERT} not found: build it (ninja -C ${BUILD}) or set GGUFFS_BUILD`);
  ensureFixtures('make-mllama.mjs', [FIXTURE]);
  tmp = makeTmp('gguffs-e2e-mllama-');
  llama = await startLlama(msg => logs.push(msg));
});

after(async () => {
  if (llama) await llama.dispose();
  removeTmp(tmp);
});

test('mllama: gguffs-convert prints the notice; both profiles write the same Ollama-format bytes', () => {
  const a = path.join(tmp, 'mllama-llamacpp.gguf'), b = path.join(tmp, 'mllama-ollama.gguf');
  const ra = convert('llamacpp', a), rb = convert('ollama', b);
  assert.match(ra.stderr, NOTICE);
  assert.match(rb.stderr, NOTICE);
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), 'profiles differ');
  const g = readGguf(a);
  assert.equal(g.kv.get('general.architecture'), 'mllama');
  assert.equal(g.kvTypes.get('mllama.attention.cross_attention_layers'), GGUF_TYPE.ARRAY);
  assert.ok(g.tensors.some(t => t.name === 'v.tile_position_embd.gate'));
  assert.ok(g.tensors.some(t => t.name === 'mm.0.weight'));
  // The notice lives in the tool and the mount, not in the GGUF.
  assert.ok(![...g.kv.keys()].some(k => /notice|loadable/.test(k)));
});

test("mllama: real llama.cpp refuses the file with unknown model architecture: 'mllama'", async () => {
  const file = path.join(tmp, 'mllama.gguf');
  convert('llamacpp', file);
  const err = await loadError(file);
  assert.ok(err !== null, 'llama.cpp loaded an mllama GGUF: update dialects.md §3d and this test');
  assert.match(err, /unknown model architecture: 'mllama'/);
});

test('mllama control: with a known architecture name the same file fails for another reason', async () => {
  const file = path.join(tmp, 'mllama-ctl.gguf'), patched = path.join(tmp, 'mllama-as-llama4.gguf');
  convert('llamacpp', file);
  patchArch(file, patched, 'mllama', 'llama4');
  const err = await loadError(patched);
  assert.ok(err !== null, 'an mllama file relabelled llama4 loaded');
  assert.match(err, /key not found in model: llama4\./);
  assert.doesNotMatch(err, /unknown model architecture/);
});
