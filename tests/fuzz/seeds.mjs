#!/usr/bin/env node
// Seed corpora for the fuzz harnesses, made from the test fixtures:
//   node tests/fuzz/seeds.mjs FIXTURES BUILD OUTDIR
// writes OUTDIR/<harness>/<seed> for safetensors, gguf, spm, tokenizer and
// config (each harness's input format is in its .c file). Seeds are kept
// small (libFuzzer mutates better and faster): safetensors headers of the
// fixtures re-encoded with tiny shapes, GGUF headers of small converted
// files, a trimmed Llama 3 tokenizer.json.

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const [FIXTURES, BUILD, OUT] = process.argv.slice(2);
if (!OUT) { console.error('usage: seeds.mjs FIXTURES BUILD OUTDIR'); process.exit(2); }
const SIZE = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1,
  BOOL: 1, F8_E4M3: 1, F8_E5M2: 1 };
let count = 0;

function seed(harness, name, data) {
  const dir = path.join(OUT, harness);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), data);
  count++;
}

const fixtures = fs.readdirSync(FIXTURES).filter(d => fs.statSync(path.join(FIXTURES, d)).isDirectory()).sort();

// ---- safetensors: each fixture file's header, tensors shrunk to <= 6 elements
function readHeader(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    fs.readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const text = Buffer.alloc(n);
    fs.readSync(fd, text, 0, n, 8);
    return JSON.parse(text.toString('utf8'));
  } finally { fs.closeSync(fd); }
}

function encodeSafetensors(entries, meta) {
  const hdr = meta ? { __metadata__: meta } : {};
  let off = 0;
  for (const [name, dtype, shape] of entries) {
    const n = shape.reduce((a, b) => a * b, 1) * SIZE[dtype];
    hdr[name] = { dtype, shape, data_offsets: [off, off + n] };
    off += n;
  }
  const json = Buffer.from(JSON.stringify(hdr));
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  const data = Buffer.alloc(off);
  for (let i = 0; i < off; i++) data[i] = (i * 37) & 0xff;
  return Buffer.concat([head, json, data]);
}

for (const fx of fixtures) {
  for (const f of fs.readdirSync(path.join(FIXTURES, fx)).filter(f => f.endsWith('.safetensors')).sort()) {
    const h = readHeader(path.join(FIXTURES, fx, f));
    const entries = Object.entries(h).filter(([k, v]) => k !== '__metadata__' && SIZE[v.dtype]).slice(0, 12)
      .map(([k, v]) => [k, v.dtype, v.shape.map((d, i) => Math.min(d, i === 0 ? 3 : 2))]);
    seed('safetensors', `${fx}-${f}`, encodeSafetensors(entries, h.__metadata__));
  }
}
seed('safetensors', 'scalar-and-empty', encodeSafetensors([['s', 'F32', []], ['z', 'BF16', [0, 4]], ['v', 'F16', [3]]]));

// ---- gguf: headers of small converted files
function gguf(name, args) {
  const out = path.join(OUT, `.${name}.gguf`);
  execFileSync(path.join(BUILD, 'gguffs-convert'), [...args, out], { stdio: 'pipe' });
  const info = JSON.parse(execFileSync(path.join(BUILD, 'gguffs-inspect'), ['--json', out], { maxBuffer: 1 << 28 }));
  seed('gguf', name, fs.readFileSync(out).subarray(0, info.data_offset));
  fs.rmSync(out);
}
gguf('llama-spm-llamacpp', ['-o', 'profile=llamacpp', path.join(FIXTURES, 'llama-spm')]);
gguf('llama-spm-ollama', ['-o', 'profile=ollama', path.join(FIXTURES, 'llama-spm')]);
gguf('lora-llama', ['-o', `base=${path.join(FIXTURES, 'llama-bf16')}`, path.join(FIXTURES, 'lora-llama')]);

// ---- spm
seed('spm', 'llama-spm', fs.readFileSync(path.join(FIXTURES, 'llama-spm', 'tokenizer.model')));

// ---- tokenizer: tokenizer.json NUL tokenizer_config.json NUL generation_config.json ...
const NUL = Buffer.from([0]);
const read = (fx, f) => { const p = path.join(FIXTURES, fx, f); return fs.existsSync(p) ? fs.readFileSync(p) : Buffer.alloc(0); };
{
  const tj = JSON.parse(read('llama-bf16', 'tokenizer.json'));
  tj.model.vocab = Object.fromEntries(Object.entries(tj.model.vocab).slice(0, 300));
  tj.model.merges = tj.model.merges.slice(0, 100);
  tj.added_tokens = tj.added_tokens.slice(0, 12);
  const tc = JSON.parse(read('llama-bf16', 'tokenizer_config.json'));
  tc.added_tokens_decoder = Object.fromEntries(Object.entries(tc.added_tokens_decoder || {}).slice(0, 12));
  const parts = [JSON.stringify(tj), JSON.stringify(tc), read('llama-bf16', 'generation_config.json')];
  seed('tokenizer', 'llama3-trimmed', Buffer.concat(parts.flatMap((p, i) => i ? [NUL, Buffer.from(p)] : [Buffer.from(p)])));
  seed('tokenizer', 'llama3-json-only', Buffer.from(JSON.stringify(tj)));
}
seed('tokenizer', 'spm-configs', Buffer.concat([NUL, read('llama-spm', 'tokenizer_config.json'), NUL, read('llama-spm', 'generation_config.json'),
  NUL, Buffer.from('{"additional_special_tokens":[{"content":"<x>"}]}'), NUL, Buffer.from('{"<y>":512}')]));

// ---- config: every fixture's config.json (adapters' adapter_config.json)
for (const fx of fixtures) {
  const c = read(fx, 'config.json');
  if (c.length) seed('config', fx, c);
}
seed('config', 'llama-spm-with-index', Buffer.concat([read('llama-spm', 'config.json'), NUL,
  Buffer.from(JSON.stringify({ weight_map: { 'model.embed_tokens.weight': 'model.safetensors' } }))]));

console.log(`seeds: ${count} files in ${OUT}`);
