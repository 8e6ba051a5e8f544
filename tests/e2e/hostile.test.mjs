// Hostile and unlucky inputs, end to end through gguffs-convert and the
// mount: a same-size in-place rewrite of a shard that puts its mtime back
// gives EIO; FIFOs and devices where inputs belong are refused with one
// line instead of hanging; with -o allow_other no source other users could
// not read is served unless asked for; stray *.safetensors beside the
// shards are not part of the model.
//
// Env: GGUFFS_BUILD, GGUFFS_FIXTURES (as in harness.mjs). Needs /dev/fuse,
// fusermount3, dd, touch, cmp, mkfifo; the allow_other cases need root
// (and setpriv to read as another user).

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CONVERT, FIXTURES, GGUFFS, makeTmp, mountGguffs, removeTmp, unmountGguffs } from './harness.mjs';
import { parseGguf } from './gguf.mjs';

const TMP = makeTmp('gguffs-hostile-');
fs.chmodSync(TMP, 0o755); // other users must reach the allow_other mount
const CACHE = path.join(TMP, 'tokcache'); // never the user's own cache
const ENV = { ...process.env, GGUFFS_CACHE_DIR: CACHE };
const IS_ROOT = process.getuid() === 0;
const mounted = new Set();

after(async () => {
  for (const m of [...mounted]) await unmountGguffs(m);
  removeTmp(TMP);
});

let seq = 0;
function copyDir(name) {
  const dst = path.join(TMP, `${name}-${seq++}`);
  fs.mkdirSync(dst);
  for (const f of fs.readdirSync(path.join(FIXTURES, name)))
    fs.copyFileSync(path.join(FIXTURES, name, f), path.join(dst, f));
  return dst;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: ENV, timeout: 20000, ...opts });
  if (r.error && r.error.code !== 'ETIMEDOUT') throw r.error;
  return r;
}

function convert(dir, out, opts = 'profile=llamacpp') {
  const r = run(CONVERT, ['-o', opts, dir, out]);
  assert.equal(r.status, 0, `gguffs-convert ${dir}: ${r.stderr}`);
  return out;
}

async function mount(dir, opts = null) {
  const m = await mountGguffs(TMP, dir, { opts });
  mounted.add(m);
  return m;
}

const isMounted = mnt => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some(l => l.split(' ')[4] === mnt);

// Unmount and remove the mountpoint. An allow_other mount may be touched
// by other users' processes for a moment (EBUSY): retry, then detach.
async function unmount(m) {
  mounted.delete(m);
  await unmountGguffs(m);
  for (let i = 0; i < 50 && isMounted(m.mnt); i++) {
    spawnSync('fusermount3', ['-u', m.mnt]);
    await new Promise(r => setTimeout(r, 100));
  }
  if (isMounted(m.mnt)) spawnSync('fusermount3', ['-uz', m.mnt]);
  for (let i = 0; ; i++) {
    try { fs.rmdirSync(m.mnt); return; } catch (e) {
      if (e.code !== 'EBUSY' || i >= 50) throw e;
      await new Promise(r => setTimeout(r, 100));
    }
  }
}

function mountOptions(mnt) {
  const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .find(l => l.split(' ')[4] === mnt);
  assert.ok(line, `${mnt} is not mounted`);
  // Per-mount options, then the superblock's after " - ".
  return line.split(' ')[5] + ',' + line.split(' - ')[1].split(' ')[2];
}

// A refused run: exits by itself, non-zero, one line naming what.
function assertRefused(r, prog, re) {
  assert.notEqual(r.signal, 'SIGTERM', `${prog} hung (killed after 20 s): ${r.stderr}`);
  assert.equal(r.signal, null);
  assert.notEqual(r.status, 0, `${prog} exit status`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
  assert.match(lines[0], new RegExp(`^${prog}: `));
  assert.match(lines[0], re);
}

// gguffs refusing to mount dir: nothing mounted, one line.
function assertMountRefused(dir, opts, re) {
  const mnt = fs.mkdtempSync(path.join(TMP, 'mnt-'));
  const r = run(GGUFFS, ['-f', ...opts, dir, mnt]);
  const left = isMounted(mnt);
  if (left) spawnSync('fusermount3', ['-u', mnt]);
  fs.rmdirSync(mnt);
  assert.equal(left, false, 'nothing may stay mounted');
  assertRefused(r, 'gguffs', re);
}

// ------------------------------------------------ in-place rewrites ----

describe('a source rewritten in place with its mtime put back', () => {
  // The reproduction, as is: dd 5 MiB of zeros at 10 MiB into the
  // shard without truncating, touch -d the old mtime back, cmp.
  for (const [fx, kind] of [['llama-bf16', 'byte-copy tensors'], ['llama-f32-tied', 'converted tensors']]) {
    test(`gives EIO, never the new bytes (${fx}: ${kind})`, async () => {
      const src = copyDir(fx);
      const ref = convert(src, path.join(TMP, `${fx}-ref.gguf`));
      const shard = path.join(src, 'model.safetensors');
      const before = fs.statSync(shard, { bigint: true });
      assert.ok(before.size >= 15n << 20n, 'the shard holds the rewritten range');
      const m = await mount(src);
      try {
        let r = run('dd', ['if=/dev/zero', `of=${shard}`, 'bs=1M', 'seek=10', 'count=5', 'conv=notrunc']);
        assert.equal(r.status, 0, r.stderr);
        const ns = before.mtimeNs % 1000000000n, s = before.mtimeNs / 1000000000n;
        r = run('touch', ['-d', `@${s}.${String(ns).padStart(9, '0')}`, shard]);
        assert.equal(r.status, 0, r.stderr);
        const now = fs.statSync(shard, { bigint: true });
        assert.equal(now.size, before.size, 'same size');
        assert.equal(now.mtimeNs, before.mtimeNs, 'mtime put back');
        assert.equal(now.ino, before.ino, 'same inode');

        // The change is real: converting now gives other bytes.
        const changed = convert(src, path.join(TMP, `${fx}-changed.gguf`));
        assert.equal(run('cmp', ['-s', changed, ref]).status, 1, 'the rewrite changes the model');

        r = run('cmp', [m.path, ref]);
        assert.equal(r.status, 2, `cmp must fail on a read error, not find bytes that differ: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /Input\/output error/);
        const stats = JSON.parse(fs.readFileSync(path.join(m.mnt, 'stats.json'), 'utf8'));
        assert.ok(stats.read_errors > 0, 'read_errors counted');
      } finally {
        await unmount(m);
      }
    });
  }
});

// ---------------------------------------------------- FIFOs, devices ----

describe('a FIFO or a device where an input belongs is refused at once', () => {
  const mkfifo = p => { fs.rmSync(p, { force: true }); assert.equal(run('mkfifo', [p]).status, 0); };
  const cases = [
    ['llama-bf16', 'config.json'],
    ['llama-bf16', 'tokenizer.json'],
    ['llama-bf16', 'tokenizer_config.json'],
    ['llama-bf16', 'generation_config.json'],
    ['llama-spm', 'added_tokens.json'],
    ['llama-spm', 'special_tokens_map.json'],
    ['llama-bf16', 'model.safetensors'],
    ['llama-spm', 'tokenizer.model'],
    ['llama-bf16-3shard-rope3', 'model.safetensors.index.json'],
    ['llama-bf16-3shard-rope3', 'model-00002-of-00003.safetensors'],
    ['lora-llama', 'adapter_config.json'],
  ];
  for (const [fx, name] of cases) {
    test(`FIFO ${name} (${fx})`, () => {
      const dir = copyDir(fx);
      mkfifo(path.join(dir, name));
      const re = new RegExp(`${name.replace(/\./g, '\\.')}: not a regular file \\(a FIFO\\)`);
      const opts = fx.startsWith('lora') ? ['-o', `base=${path.join(FIXTURES, 'llama-bf16')}`] : [];
      assertRefused(run(CONVERT, [...opts, dir, path.join(TMP, 'out.gguf')]), 'gguffs-convert', re);
      assertMountRefused(dir, opts, re);
    });
  }

  for (const dev of ['/dev/zero', '/dev/null']) {
    test(`config.json -> ${dev} (a character device)`, () => {
      const dir = copyDir('llama-bf16');
      fs.rmSync(path.join(dir, 'config.json'));
      fs.symlinkSync(dev, path.join(dir, 'config.json'));
      const re = /config\.json: not a regular file \(a character device\)/;
      assertRefused(run(CONVERT, [dir, path.join(TMP, 'out.gguf')]), 'gguffs-convert', re);
      assertMountRefused(dir, [], re);
    });
  }

  test('base= GGUF that is a FIFO', () => {
    const fifo = path.join(TMP, `base-${seq++}.gguf`);
    mkfifo(fifo);
    const dir = path.join(FIXTURES, 'lora-llama');
    const re = /not a regular file \(a FIFO\)/;
    assertRefused(run(CONVERT, ['-o', `base=${fifo}`, dir, path.join(TMP, 'out.gguf')]), 'gguffs-convert', re);
    assertMountRefused(dir, ['-o', `base=${fifo}`], re);
  });

  test('a tokenizer cache entry that is a FIFO is skipped, not waited on', () => {
    const cache = path.join(TMP, `cache-${seq++}`);
    const env = { ...ENV, GGUFFS_CACHE_DIR: cache };
    const dir = copyDir('llama-bf16');
    const ref = path.join(TMP, 'cache-ref.gguf');
    let r = run(CONVERT, [dir, ref], { env });
    assert.equal(r.status, 0, r.stderr);
    const entries = fs.readdirSync(cache);
    assert.equal(entries.length, 1, 'one cache entry');
    mkfifo(path.join(cache, entries[0]));
    const out = path.join(TMP, 'cache-out.gguf');
    r = run(CONVERT, [dir, out], { env });
    assert.equal(r.signal, null, 'not hung');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(run('cmp', ['-s', out, ref]).status, 0, 'same bytes as the parse');
  });
});

// -------------------------------------------------------- allow_other ----

describe('-o allow_other', { skip: IS_ROOT ? false : 'needs root (mounting with allow_other, reading as another user)' }, () => {
  // A directory like a stranger's: tokenizer_config.json links to a file
  // only root may read (the leak the issue found).
  function privateLinkDir() {
    const dir = copyDir('llama-bf16');
    const vault = path.join(TMP, `vault-${seq++}`);
    fs.mkdirSync(vault, { mode: 0o700 });
    const secret = path.join(vault, 'secret.json');
    fs.copyFileSync(path.join(dir, 'tokenizer_config.json'), secret);
    fs.chmodSync(secret, 0o600);
    fs.rmSync(path.join(dir, 'tokenizer_config.json'));
    fs.symlinkSync(secret, path.join(dir, 'tokenizer_config.json'));
    return dir;
  }

  test('refuses a source other users cannot read, naming it and the option', async () => {
    const dir = privateLinkDir();
    assertMountRefused(dir, ['-o', 'allow_other'], /tokenizer_config\.json: other users cannot reach it .*-o allow_private_sources serves it anyway/);
    // Not from the tokenizer cache either: a mount without allow_other
    // stores the entry, and the refusal still stands.
    const m = await mount(dir);
    await unmount(m);
    assert.ok(fs.readdirSync(CACHE).length > 0, 'cache entry stored');
    assertMountRefused(dir, ['-o', 'allow_other'], /tokenizer_config\.json: other users cannot/);
    // A private shard too.
    const d2 = copyDir('llama-bf16');
    fs.chmodSync(path.join(d2, 'model.safetensors'), 0o600);
    assertMountRefused(d2, ['-o', 'allow_other'], /model\.safetensors: other users cannot read it \(.* is mode 0600\)/);
  });

  test('allow_private_sources serves it anyway; default_permissions always', async () => {
    const dir = privateLinkDir();
    const m = await mount(dir, 'allow_other,allow_private_sources');
    try {
      const o = mountOptions(m.mnt);
      assert.match(o, /allow_other/);
      assert.match(o, /default_permissions/);
    } finally {
      await unmount(m);
    }
    const m2 = await mount(path.join(FIXTURES, 'llama-bf16'));
    try {
      assert.match(mountOptions(m2.mnt), /default_permissions/);
    } finally {
      await unmount(m2);
    }
  });

  test('public sources mount, and another user reads model.gguf', async () => {
    const dir = copyDir('llama-bf16');
    const ref = convert(dir, path.join(TMP, 'public-ref.gguf'));
    const m = await mount(dir, 'allow_other');
    try {
      const r = run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cmp', m.path, ref]);
      assert.equal(r.status, 0, `another user reads the mount: ${r.stderr}`);
    } finally {
      await unmount(m);
    }
  });
});

// ------------------------------------------------------- stray shards ----

describe('stray *.safetensors beside the model are not read', () => {
  for (const profile of ['llamacpp', 'ollama']) {
    for (const fx of ['llama-bf16-3shard-rope3', 'llama-bf16']) {
      test(`consolidated.safetensors beside ${fx} (${profile})`, () => {
        const dir = copyDir(fx);
        const ref = convert(dir, path.join(TMP, `stray-ref-${seq++}.gguf`), `profile=${profile}`);
        // A real-looking safetensors file with tensors of its own.
        const shard = fs.readdirSync(dir).find(f => f.startsWith('model') && f.endsWith('.safetensors'));
        fs.copyFileSync(path.join(dir, shard), path.join(dir, 'consolidated.safetensors'));
        fs.writeFileSync(path.join(dir, 'training_state.safetensors'), 'not even safetensors');
        const out = convert(dir, path.join(TMP, `stray-out-${seq++}.gguf`), `profile=${profile}`);
        assert.equal(run('cmp', [out, ref]).status, 0, 'the stray files change nothing');
      });
    }
  }
});



// ------------------------------------------- readers under page-cache loss ----

// 16 workers reading random ranges of model.gguf, each compared with the
// converted file, while the page cache (the mount's and the sources') is
// dropped again and again: any byte served wrong is a mismatch.
const READER_SRC = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { file, ref, seed, ms, maxLen } = workerData;
let s = seed >>> 0;
const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
const fd = fs.openSync(file, 'r'), rfd = fs.openSync(ref, 'r');
const size = fs.fstatSync(rfd).size;
const a = Buffer.alloc(maxLen), b = Buffer.alloc(maxLen);
let reads = 0, mismatches = 0, errors = 0, first = null;
const end = Date.now() + ms;
while (Date.now() < end) {
  const off = Math.floor(rnd() * size);
  const len = 1 + Math.floor(rnd() * Math.min(maxLen, size - off));
  let na;
  try { na = fs.readSync(fd, a, 0, len, off); } catch (e) { errors++; first = first || e.code + ' at ' + off; continue; }
  const nb = fs.readSync(rfd, b, 0, len, off);
  reads++;
  if (na !== nb || !a.subarray(0, na).equals(b.subarray(0, nb))) { mismatches++; first = first || 'off ' + off + ' len ' + len; }
}
fs.closeSync(fd); fs.closeSync(rfd);
parentPort.postMessage({ reads, mismatches, errors, first });
`;

function canDropCaches() {
  try { fs.accessSync('/proc/sys/vm/drop_caches', fs.constants.W_OK); return IS_ROOT; } catch { return false; }
}

describe('16 readers while the page cache is dropped', { skip: canDropCaches() ? false : 'needs root: writes /proc/sys/vm/drop_caches' }, () => {
  for (const [fx, opts] of [['llama-f32-tied', 'cache_size=4M,chunk_size=1M'], ['llama-bf16', null]]) {
    test(`${fx}: 0 mismatches`, async () => {
      const { Worker } = await import('node:worker_threads');
      const ref = convert(path.join(FIXTURES, fx), path.join(TMP, `${fx}-readers.gguf`));
      const m = await mount(path.join(FIXTURES, fx), opts);
      try {
        const ms = 8000;
        let drops = 0, dropping = true;
        const dropper = (async () => {
          while (dropping) {
            fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
            drops++;
            await new Promise(r => setTimeout(r, 250));
          }
        })();
        const res = await Promise.all(Array.from({ length: 16 }, (_, i) => new Promise((resolve, reject) => {
          const w = new Worker(READER_SRC, { eval: true, workerData: { file: m.path, ref, seed: 0x9e3779b9 + i * 7919, ms, maxLen: 2 << 20 } });
          w.once('message', resolve);
          w.once('error', reject);
        })));
        dropping = false;
        await dropper;
        const total = res.reduce((t, r) => ({ reads: t.reads + r.reads, mismatches: t.mismatches + r.mismatches, errors: t.errors + r.errors }),
          { reads: 0, mismatches: 0, errors: 0 });
        const firsts = res.map(r => r.first).filter(Boolean);
        console.log(`# ${fx}: ${total.reads} reads by 16 readers, ${drops} page-cache drops, ${total.mismatches} mismatches, ${total.errors} errors`);
        assert.ok(drops >= 10, 'the page cache was dropped repeatedly');
        assert.ok(total.reads >= 16 * 20, `enough reads (${total.reads})`);
        assert.equal(total.mismatches, 0, `mismatches: ${firsts.join('; ')}`);
        assert.equal(total.errors, 0, `read errors: ${firsts.join('; ')}`);
      } finally {
        await unmount(m);
      }
    });
  }
});

// ------------------------------------------------- pathological inputs ----
// Small inputs that used to cost gigabytes (tests/fixtures/make-hostile.mjs).
// Memory is each process's peak RSS, from wait4 (a small C helper) or the
// daemon's /proc VmHWM; the bounds are the targets. Timings are
// bench/hostile-bench.sh's business, not these tests'.

const MAXRSS_C = String.raw`
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
	pid_t pid = fork();
	if (pid == 0) { execvp(argv[1], argv + 1); perror(argv[1]); _exit(127); }
	int st; struct rusage ru;
	if (wait4(pid, &st, 0, &ru) != pid) return 126;
	printf("%ld %d\n", ru.ru_maxrss, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}
`;
let MAXRSS = null;
// Run cmd args; {kb: peak RSS in KiB, status, stderr}.
function peakRss(cmd, args) {
  if (!MAXRSS) {
    const src = path.join(TMP, 'maxrss.c');
    MAXRSS = path.join(TMP, 'maxrss');
    fs.writeFileSync(src, MAXRSS_C);
    assert.equal(spawnSync('cc', ['-O2', '-o', MAXRSS, src]).status, 0, 'cc maxrss.c');
  }
  const r = run(MAXRSS, [cmd, ...args], { maxBuffer: 1 << 26 });
  const [kb, status] = r.stdout.trim().split(/\s+/).map(Number);
  return { kb, status, stderr: r.stderr };
}

const vmHwmKb = pid => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

describe('pathological inputs cost what their size does', () => {
  test('vocab_size 16.7M over a 512-token tokenizer is refused, in under 200 MB', () => {
    const r = peakRss(CONVERT, ['--check', path.join(FIXTURES, 'hostile-vocab16m')]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /vocab_size 16777216 would pad the tokenizer's 512 tokens past every tensor dimension \(the largest is 512\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.kb < 200 * 1024, `peak RSS ${r.kb} KiB`);
  });

  test('1,000,000 added tokens are served, every one', () => {
    const out = path.join(TMP, 'added1m.gguf');
    const r = peakRss(CONVERT, [path.join(FIXTURES, 'hostile-added1m'), out]);
    assert.equal(r.status, 0, r.stderr);
    const fd = fs.openSync(out, 'r');
    const head = Buffer.alloc(64 << 20);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    fs.rmSync(out);
    const g = parseGguf(head.subarray(0, n));
    const tokens = g.kv.get('tokenizer.ggml.tokens');
    assert.equal(tokens.length, 1000512);
    assert.equal(tokens[512], '<a0>');
    assert.equal(tokens[1000511], '<a999999>');
    console.log(`# 1M added tokens: gguffs-convert peak RSS ${(r.kb / 1024).toFixed(0)} MiB`);
    assert.ok(r.kb < 1024 * 1024, `peak RSS ${r.kb} KiB`);
  });

  test('300,000 tensors mount in under 400 MB; metadata.json is made on first read', async () => {
    const m = await mountGguffs(TMP, path.join(FIXTURES, 'hostile-tensors300k'), { timeoutMs: 120000 });
    mounted.add(m);
    try {
      const ready = vmHwmKb(m.child.pid);
      fs.readdirSync(m.mnt).forEach(f => fs.statSync(path.join(m.mnt, f))); // ls -l
      const listed = vmHwmKb(m.child.pid);
      console.log(`# 300,000 tensors: daemon peak RSS ${(ready / 1024).toFixed(0)} MiB mounted, ${(listed / 1024).toFixed(0)} MiB after ls -l`);
      assert.ok(ready < 400 * 1024, `mounted: peak RSS ${ready} KiB`);
      assert.ok(listed < 400 * 1024, `after ls -l: peak RSS ${listed} KiB`);
      const meta = JSON.parse(fs.readFileSync(path.join(m.mnt, 'metadata.json'), 'utf8'));
      assert.equal(meta.tensors.length, 2 + 9 * 33333);
      assert.equal(fs.statSync(path.join(m.mnt, 'metadata.json')).size,
        fs.readFileSync(path.join(m.mnt, 'metadata.json')).length, 'stat size = bytes read');
    } finally {
      await unmount(m);
    }
  });
});
