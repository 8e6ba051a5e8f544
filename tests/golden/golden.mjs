#!/usr/bin/env node
// The sha256 of every file gguffs-convert writes for every fixture in every
// profile it supports, against the checked-in list tests/golden/sha256.txt.
// A change that should not touch output bytes (a refactor) must leave the
// list as it is; a change that moves bytes on purpose regenerates it in the
// same commit:
//
//   node tests/golden/golden.mjs --update     # rewrite sha256.txt
//   node tests/golden/golden.mjs              # compare; exit 1 on a difference
//
// Env: GGUFFS_BUILD (default <repo>/build), GGUFFS_FIXTURES (default
// <repo>/tests/fixtures/out; the fixtures must exist: tests/run.sh makes them).
//
// Each line of sha256.txt is "<case> <profile> <file> <sha256>", <file>
// being the virtual file's name (model.gguf, mmproj.gguf, adapter.gguf) and
// <case> the fixture's name, followed by "+<tag>" for a case converted with
// extra options that has a tag (e.g. llama-q256+Q4_K_M).

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
export const LIST = path.join(HERE, 'sha256.txt');
const BUILD = path.resolve(process.env.GGUFFS_BUILD || path.join(REPO, 'build'));
const FIXTURES = path.resolve(process.env.GGUFFS_FIXTURES || path.join(REPO, 'tests/fixtures/out'));
const CONVERT = path.join(BUILD, 'gguffs-convert');

const BOTH = ['llamacpp', 'ollama'];
const LORA_BASE = 'llama-f32-tied';

// [fixture, profiles, extra -o options, tag]. Every fixture a generator in
// tests/fixtures/ writes and gguffs converts belongs here; a fixture
// converted more than once (other -o options) tags the other cases.
export const CASES = [
  ...['llama-bf16', 'llama-bf16-3shard-rope3', 'llama-f16', 'llama-f32-tied', 'llama-hd', 'llama-spm',
    'llama-q256', 'llama-q256-tied'].map(f => [f, BOTH, '']),
  // -o type=: quantized chunks are pinned too (the tests prove them equal to
  // llama-quantize's; this catches a later change that moves them).
  ...['Q4_K_M', 'Q8_0', 'Q3_K_S'].map(t => ['llama-q256', BOTH, `type=${t}`, t]),
  ['llama-spm', BOTH, 'type=Q5_K_M', 'Q5_K_M'],
  ['llama4-tiny', ['llamacpp'], 'type=Q6_K,mmproj_type=Q8_0', 'Q6_K'],
  ['llama4-tiny', BOTH, ''],
  ...['gptoss-tiny', 'gemma3-tiny', 'gemma3-mm-tiny', 'phi3-tiny', 'phi4-mini-tiny'].map(f => [f, BOTH, '']),
  ['mllama-tiny', BOTH, ''],
  ['glm-tiny', [...BOTH, 'ollama-legacy'], ''],
  ['glm-tiny-kvbT', [...BOTH, 'ollama-legacy'], ''],
  ...['qwen2-tiny', 'qwen3-tiny', 'qwen3moe-tiny', 'mistral-tiny', 'mistral-json', 'mixtral-tiny']
    .map(f => [f, BOTH, '']),
  // Ollama cannot decode this config (numeric rope_scaling.factor).
  ['qwen2-yarn-tied', ['llamacpp'], ''],
  ['qwen3moe-tiny', ['llamacpp'], 'type=Q4_K_M', 'Q4_K_M'],
  ...['lora-llama', 'lora-llama-mlx', 'lora-alpha-float']
    .map(f => [f, BOTH, `base=${path.join(FIXTURES, LORA_BASE)}`]),
];

const sha256 = file => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// gguffs-convert one case into tmp; returns [{file, sha}] in output order.
// gguffs-convert names each written file on stderr: "PATH: NAME, ...".
export function convertCase(fixture, profile, extra, tmp) {
  const out = path.join(tmp, `${fixture}-${profile}.gguf`);
  const opts = [`profile=${profile}`, extra].filter(Boolean).join(',');
  const r = spawnSync(CONVERT, ['-o', opts, path.join(FIXTURES, fixture), out], { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`gguffs-convert -o ${opts} ${fixture}: ${r.stderr.trim()}`);
  const files = [];
  for (const line of r.stderr.split('\n')) {
    const m = /^(.*\.gguf): ([^,]+), \d+ tensors/.exec(line);
    if (m) {
      files.push({ file: m[2], sha: sha256(m[1]) });
      fs.rmSync(m[1]);
    }
  }
  if (!files.length) throw new Error(`gguffs-convert ${fixture}: no output file named on stderr: ${r.stderr.trim()}`);
  return files;
}

// The <case> column of a CASES entry.
export const caseName = (fixture, tag) => tag ? `${fixture}+${tag}` : fixture;

// Every "<case> <profile> <file> <sha256>" line, in CASES order.
export function computeLines() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gguffs-golden-'));
  try {
    const lines = [];
    for (const [fixture, profiles, extra, tag] of CASES)
      for (const p of profiles)
        for (const { file, sha } of convertCase(fixture, p, extra, tmp))
          lines.push(`${caseName(fixture, tag)} ${p} ${file} ${sha}`);
    return lines;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function readList() {
  return fs.readFileSync(LIST, 'utf8').split('\n').filter(l => l && !l.startsWith('#'));
}

function main(argv) {
  const update = argv.includes('--update');
  if (!fs.existsSync(CONVERT)) { console.error(`golden: ${CONVERT} not built`); return 2; }
  const lines = computeLines();
  if (update) {
    fs.writeFileSync(LIST, '# regenerate: node tests/golden/golden.mjs --update\n' + lines.join('\n') + '\n');
    console.log(`golden: wrote ${lines.length} lines to ${path.relative(REPO, LIST)}`);
    return 0;
  }
  const want = readList();
  const got = new Set(lines), had = new Set(want);
  const missing = want.filter(l => !got.has(l)), extra = lines.filter(l => !had.has(l));
  for (const l of missing) console.log(`- ${l}`);
  for (const l of extra) console.log(`+ ${l}`);
  if (missing.length || extra.length) {
    console.log('golden: outputs differ from tests/golden/sha256.txt (node tests/golden/golden.mjs --update if intended)');
    return 1;
  }
  console.log(`golden: ${lines.length} files match`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.exitCode = main(process.argv);
