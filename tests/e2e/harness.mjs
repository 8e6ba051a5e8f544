// What the llama.cpp end-to-end tests share: where the build and fixtures
// are, running gguffs-convert and the fixture generators, node-llama-cpp
// setup, last-position logits, the logits comparison, and gguffs mounts.
//
// Env: GGUFFS_BUILD (default <repo>/build), GGUFFS_FIXTURES (default
// <repo>/tests/fixtures/out), GGUFFS_E2E_VERBOSE (llama.cpp's log to stderr),
// GGUFFS_E2E_KEEP (keep the temp dirs).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { argmax } from './reference.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const BUILD = path.resolve(process.env.GGUFFS_BUILD || path.join(REPO, 'build'));
export const FIXTURES = path.resolve(process.env.GGUFFS_FIXTURES || path.join(REPO, 'tests/fixtures/out'));
export const CONVERT = path.join(BUILD, 'gguffs-convert');
export const GGUFFS = path.join(BUILD, 'gguffs');

// ------------------------------------------------------------ processes ----
export function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return r;
}

// gguffs-convert -o opts dir out; fails the test unless it exits 0.
// Returns the spawn result (stderr holds the tool's notices).
export function convertModel(dir, opts, out) {
  const r = run(CONVERT, ['-o', opts, dir, out]);
  assert.equal(r.status, 0, `gguffs-convert ${opts} ${dir} failed (${r.status}): ${r.stderr.trim()}`);
  return r;
}

// Run tests/fixtures/<generator> into FIXTURES (it skips what exists).
export function generateFixtures(generator, args = []) {
  execFileSync(process.execPath, [path.join(REPO, 'tests/fixtures', generator), FIXTURES, ...args, '--quiet'],
    { stdio: 'inherit' });
}

// Generate the named fixtures unless all are complete; with `only`, pass
// the missing names to the generator's --only.
export function ensureFixtures(generator, names, { only = false } = {}) {
  const missing = names.filter(n => !fs.existsSync(path.join(FIXTURES, n, '.complete')));
  if (missing.length) generateFixtures(generator, only ? ['--only', missing.join(',')] : []);
}

export function makeTmp(prefix) { return fs.mkdtempSync(path.join(os.tmpdir(), prefix)); }

export function removeTmp(dir) {
  if (dir && !process.env.GGUFFS_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
}

export const sha256File = file => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// One xorshift32 step: the tests' deterministic prompt generator.
export function xorshift32(x) {
  x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
  return x >>> 0;
}

// ------------------------------------------------------------ llama.cpp ----
// node-llama-cpp's CPU prebuilt, quiet; onLog(msg) sees every log line.
export async function startLlama(onLog = null) {
  const nlc = await import('node-llama-cpp');
  return nlc.getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true,
    logLevel: nlc.LlamaLogLevel.error,
    logger: (level, msg) => {
      if (onLog) onLog(msg);
      if (process.env.GGUFFS_E2E_VERBOSE) process.stderr.write(msg);
    } });
}

export async function withModel(llama, file, fn) {
  const model = await llama.loadModel({ modelPath: file });
  try { return await fn(model); } finally { await model.dispose(); }
}

// Raw logits of the last position of tokens, a Float64Array indexed by
// token id (NaN where llama.cpp gave none). ctxOptions go to createContext
// (a LoRA adapter, for one); the context holds contextSize tokens.
export async function modelLogits(model, tokens, V, { contextSize = 512, ...ctxOptions } = {}) {
  const ctx = await model.createContext({ contextSize, batchSize: contextSize, threads: 2, ...ctxOptions });
  try {
    const items = tokens.map((t, i) => (i === tokens.length - 1 ? [t, { generateNext: { logits: true } }] : t));
    const res = await ctx.getSequence().controlledEvaluate(items);
    const lm = res[res.length - 1]?.next?.logits;
    assert.ok(lm && lm.size > 0, 'no logits from llama.cpp');
    const out = new Float64Array(V).fill(NaN);
    for (const [t, v] of lm) out[t] = v;
    return out;
  } finally { await ctx.dispose(); }
}

// modelLogits of the model in file, loaded for this call only.
export function fileLogits(llama, file, tokens, V, ctxOptions) {
  return withModel(llama, file, model => modelLogits(model, tokens, V, ctxOptions));
}

// ----------------------------------------------------------- comparison ----
// llama.cpp's logits against the reference's: the largest difference (NaN
// anywhere makes it NaN, which fails every bound), both argmaxes and how far
// apart the reference puts them.
export function compareLogits(got, ref) {
  assert.equal(got.length, ref.length, `vocab size: llama.cpp ${got.length}, reference ${ref.length}`);
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (!(d <= maxDiff)) maxDiff = d;
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  const a = argmax(got), b = argmax(ref);
  return { maxDiff, maxRef, argmaxGot: a, argmaxRef: b, refGap: ref[b] - ref[a] };
}

export const formatComparison = r =>
  `max|logit diff| ${r.maxDiff.toFixed(5)} (max|ref| ${r.maxRef.toFixed(2)}), argmax ${r.argmaxGot}/${r.argmaxRef}`;

// Within tol, and the same argmax unless the reference's top two are
// closer than 2 * tol.
export function assertMatches(r, what, tol) {
  assert.ok(r.maxDiff < tol, `${what}: ${formatComparison(r)} >= ${tol}`);
  assert.ok(r.argmaxGot === r.argmaxRef || r.refGap < 2 * tol,
    `${what}: argmax ${r.argmaxGot} != reference ${r.argmaxRef} (gap ${r.refGap})`);
}

// A broken conversion must be off by more than reject or change the argmax.
export function assertRejected(r, what, reject) {
  assert.ok(r.maxDiff > reject || r.argmaxGot !== r.argmaxRef,
    `${what}: broken conversion was NOT rejected (${formatComparison(r)}, bound ${reject})`);
}

// ---------------------------------------------------------------- mounts ----
const sleep = ms => new Promise(res => setTimeout(res, ms));

// Mount dir with gguffs -f on a new directory under parent (opts: a -o
// string or null) and wait until `file` shows in it with a size.
// Returns {mnt, child, path, ms}; unmount it with unmountGguffs.
export async function mountGguffs(parent, dir, { opts = null, file = 'model.gguf', timeoutMs = 20000 } = {}) {
  const mnt = fs.mkdtempSync(path.join(parent, 'mnt-'));
  const child = spawn(GGUFFS, ['-f', ...(opts ? ['-o', opts] : []), dir, mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', d => { stderr += d; });
  const m = { mnt, child, path: path.join(mnt, file), ms: 0 };
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) {
      await unmountGguffs(m);
      throw new Error(`gguffs exited with ${child.exitCode}: ${stderr.trim()}`);
    }
    try { if (fs.statSync(m.path).size > 0) break; } catch { /* not yet */ }
    if (Date.now() - t0 > timeoutMs) {
      await unmountGguffs(m);
      throw new Error(`${m.path} did not appear within ${timeoutMs} ms: ${stderr.trim()}`);
    }
    await sleep(10);
  }
  m.ms = Date.now() - t0;
  return m;
}

// fusermount3 -u, then wait up to 5 s for gguffs to exit (SIGKILL after).
export async function unmountGguffs({ mnt, child }) {
  spawnSync('fusermount3', ['-u', mnt]);
  if (child.exitCode !== null) return;
  await new Promise(res => {
    const tm = setTimeout(() => { child.kill('SIGKILL'); res(); }, 5000);
    child.once('exit', () => { clearTimeout(tm); res(); });
  });
}

// ------------------------------------------------------ random readers ----
// 8 workers, each with its own fd, doing random (offset, length) reads of
// file and comparing with ref. Resolves to the number of reads done.
const WORKER_SRC = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { file, ref, seed, iters, maxLen } = workerData;
let s = seed >>> 0;
const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
const fd = fs.openSync(file, 'r'), rfd = fs.openSync(ref, 'r');
const size = fs.fstatSync(rfd).size;
const a = Buffer.alloc(maxLen), b = Buffer.alloc(maxLen);
let bad = null;
for (let i = 0; i < iters && !bad; i++) {
  const off = Math.floor(rnd() * size);
  const len = 1 + Math.floor(rnd() * Math.min(maxLen, size - off));
  const na = fs.readSync(fd, a, 0, len, off), nb = fs.readSync(rfd, b, 0, len, off);
  if (na !== nb || !a.subarray(0, na).equals(b.subarray(0, nb)))
    bad = 'seed ' + seed + ' read ' + i + ' off ' + off + ' len ' + len + ': got ' + na + ' bytes, want ' + nb;
}
fs.closeSync(fd); fs.closeSync(rfd);
parentPort.postMessage({ bad });
`;

export function randomReaders(file, ref, { workers = 8, iters = 300, maxLen = 3 << 20 } = {}) {
  return Promise.all(Array.from({ length: workers }, (_, i) => new Promise((res, rej) => {
    const w = new Worker(WORKER_SRC, { eval: true, workerData: { file, ref, seed: 0x1234567 + i * 7919, iters, maxLen } });
    w.once('message', m => res(m));
    w.once('error', rej);
  })));
}
