// End-to-end tests of the gguffs mount: every fixture in both profiles is
// mounted and read through the kernel (plain reads, 8 concurrent readers,
// mmap, tensors/ files, xattrs, metadata.json, stats.json) and compared with
// the file gguffs-convert writes; a source truncated under the mount gives
// EIO; bad inputs refuse the mount and leave nothing mounted.
//
// Env: GGUFFS_BUILD (default <repo>/build), GGUFFS_FIXTURES (default
// <repo>/tests/fixtures/out, made by tests/fixtures/make-fixtures.mjs).
// Needs /dev/fuse, fusermount3 and cc (a small C helper for mmap, xattrs and
// XXH3 is compiled into a temporary directory at test time).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomReaders } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BUILD = path.resolve(process.env.GGUFFS_BUILD || path.join(REPO, 'build'));
const FIXTURES = path.resolve(process.env.GGUFFS_FIXTURES || path.join(REPO, 'tests/fixtures/out'));
const GGUFFS = path.join(BUILD, 'gguffs');
const CONVERT = path.join(BUILD, 'gguffs-convert');
const INSPECT = path.join(BUILD, 'gguffs-inspect');

const ALL_FIXTURES = ['llama-f32-tied', 'llama-f16', 'llama-bf16', 'llama-bf16-3shard-rope3', 'llama-spm', 'llama-hd'];
const PROFILES = ['llamacpp', 'ollama'];

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'gguffs-mount-'));
const live = new Set(); // mounts not yet unmounted, for the final sweep

// ------------------------------------------------------------ helpers ----

const sleep = ms => new Promise(r => setTimeout(r, ms));
const sha256 = buf => crypto.createHash('sha256').update(buf).digest('hex');

function isMounted(mnt) {
  const real = fs.existsSync(mnt) ? fs.realpathSync(mnt) : mnt;
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .some(l => l.split(' ')[4] === real);
}

// Start `gguffs -f [opts] HFDIR MNT`; resolve once model.gguf is visible.
// Rejects (with the daemon's stderr) if it exits first.
async function mount(hfdir, opts = [], { timeoutMs = 20000 } = {}) {
  const mnt = fs.mkdtempSync(path.join(TMP, 'mnt-'));
  const child = spawn(GGUFFS, ['-f', ...opts, hfdir, mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
  const m = { mnt, child, stderr: '', exited: null };
  child.stderr.on('data', d => { m.stderr += d; });
  m.exitP = new Promise(res => child.on('exit', (code, sig) => { m.exited = { code, sig }; res(m.exited); }));
  live.add(m);
  const t0 = Date.now();
  for (;;) {
    if (m.exited) {
      live.delete(m);
      throw new Error(`gguffs exited (${JSON.stringify(m.exited)}) before mounting: ${m.stderr}`);
    }
    if (isMounted(mnt) && fs.existsSync(path.join(mnt, 'model.gguf'))) break;
    if (Date.now() - t0 > timeoutMs) {
      await unmount(m);
      throw new Error(`gguffs did not mount within ${timeoutMs} ms: ${m.stderr}`);
    }
    await sleep(10);
  }
  m.readyMs = Date.now() - t0;
  return m;
}

// fusermount3 -u, then wait for the daemon to exit; returns its exit.
async function unmount(m) {
  if (!live.has(m)) return m.exited;
  live.delete(m);
  if (isMounted(m.mnt)) spawnSync('fusermount3', ['-u', m.mnt]);
  const done = await Promise.race([m.exitP, sleep(10000).then(() => null)]);
  if (!done) { // wedged: force it
    m.child.kill('SIGKILL');
    if (isMounted(m.mnt)) spawnSync('fusermount3', ['-uz', m.mnt]);
    await m.exitP;
  }
  try { fs.rmdirSync(m.mnt); } catch { /* left for the sweep */ }
  return m.exited;
}

// Mount, run fn(m), always unmount; the daemon must exit 0 after unmount.
async function withMount(hfdir, opts, fn) {
  const m = await mount(hfdir, opts);
  let failed = true;
  try {
    await fn(m);
    failed = false;
  } finally {
    const ex = await unmount(m);
    if (!failed) {
      assert.equal(isMounted(m.mnt), false, 'still mounted after fusermount3 -u');
      assert.deepEqual(ex, { code: 0, sig: null }, `daemon exit after unmount; stderr: ${m.stderr}`);
    }
  }
}

function convert(fx, profile) {
  const out = path.join(TMP, `${fx}.${profile}.gguf`);
  if (!fs.existsSync(out)) execFileSync(CONVERT, ['-o', `profile=${profile}`, path.join(FIXTURES, fx), out], { stdio: 'pipe' });
  return out;
}

function inspect(file) {
  return JSON.parse(execFileSync(INSPECT, ['--json', file], { maxBuffer: 1 << 30 }).toString());
}

function copyDir(src) {
  const dst = fs.mkdtempSync(path.join(TMP, 'src-'));
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  return dst;
}

// Name of a tensor's file under tensors/ (vfs.h: '%' and '/' escaped).
const tensorFile = name => name.replace(/%/g, '%25').replace(/\//g, '%2F');

// First differing byte of two buffers, or -1.
function firstDiff(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 4096) {
    const e = Math.min(n, i + 4096);
    if (!a.subarray(i, e).equals(b.subarray(i, e)))
      for (let j = i; j < e; j++) if (a[j] !== b[j]) return j;
  }
  return a.length === b.length ? -1 : n;
}

function assertSameBytes(got, want, what) {
  const d = firstDiff(got, want);
  assert.equal(d, -1, `${what}: differs at byte ${d} (sizes ${got.length} vs ${want.length})`);
}

// ----------------------------------------------------------- C helper ----
// mmapcmp FILE REF ORDER   compare a MAP_SHARED mapping of FILE with REF,
//                          pages in 'seq' order (llama.cpp style: fadvise
//                          SEQUENTIAL, MAP_POPULATE, WILLNEED) or 'random'
//                          order (plain page faults); prints "ok".
// xxh3 FILE OFF LEN        XXH3-64 of a byte range, 16 hex digits.
// resident FILE            bytes of FILE in the page cache (mincore).
// getxattr FILE NAME       the value, or "ERR <errno>" and exit 2.
// listxattr FILE           the names, one a line.
const HELPER_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

static const uint8_t *map(const char *path, size_t *size, int populate) {
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) { perror(path); exit(3); }
	*size = (size_t)st.st_size;
	if (populate) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	void *p = mmap(NULL, *size ? *size : 1, PROT_READ,
		       MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
	if (p == MAP_FAILED) { perror("mmap"); exit(3); }
	if (populate) posix_madvise(p, *size, POSIX_MADV_WILLNEED);
	close(fd);
	return p;
}

static int mmapcmp(const char *file, const char *ref, const char *order) {
	size_t n, m;
	int seq = strcmp(order, "seq") == 0;
	const uint8_t *a = map(file, &n, seq), *b = map(ref, &m, 0);
	if (n != m) { printf("size %zu vs %zu\n", n, m); return 1; }
	size_t pages = (n + 4095) / 4096;
	size_t *perm = malloc((pages ? pages : 1) * sizeof *perm);
	for (size_t i = 0; i < pages; i++) perm[i] = i;
	if (!seq) {
		uint64_t x = 0x9E3779B97F4A7C15ull;
		for (size_t i = pages; i > 1; i--) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			size_t j = (size_t)(x % i), t = perm[i - 1];
			perm[i - 1] = perm[j]; perm[j] = t;
		}
	}
	for (size_t k = 0; k < pages; k++) {
		size_t off = perm[k] * 4096, len = n - off < 4096 ? n - off : 4096;
		if (memcmp(a + off, b + off, len)) { printf("differ in page at %zu\n", off); return 1; }
	}
	printf("ok\n");
	return 0;
}

static int resident(const char *file) {
	size_t n;
	const uint8_t *p = map(file, &n, 0);
	size_t pages = (n + 4095) / 4096, in = 0;
	unsigned char *v = malloc(pages ? pages : 1);
	if (mincore((void *)p, n, v)) { perror("mincore"); return 3; }
	for (size_t i = 0; i < pages; i++) in += v[i] & 1;
	printf("%zu\n", in * 4096);
	return 0;
}

static int xxh3(const char *file, unsigned long long off, unsigned long long len) {
	int fd = open(file, O_RDONLY);
	if (fd < 0) { perror(file); return 3; }
	XXH3_state_t *s = XXH3_createState();
	XXH3_64bits_reset(s);
	static uint8_t buf[1 << 20];
	while (len) {
		size_t want = len < sizeof buf ? len : sizeof buf;
		ssize_t r = pread(fd, buf, want, (off_t)off);
		if (r <= 0) { printf("ERR read\n"); return 2; }
		XXH3_64bits_update(s, buf, (size_t)r);
		off += (unsigned long long)r; len -= (unsigned long long)r;
	}
	printf("%016llx\n", (unsigned long long)XXH3_64bits_digest(s));
	return 0;
}

int main(int argc, char **argv) {
	char buf[65536];
	if (argc == 5 && !strcmp(argv[1], "mmapcmp")) return mmapcmp(argv[2], argv[3], argv[4]);
	if (argc == 3 && !strcmp(argv[1], "resident")) return resident(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "xxh3"))
		return xxh3(argv[2], strtoull(argv[3], 0, 10), strtoull(argv[4], 0, 10));
	if (argc == 4 && !strcmp(argv[1], "getxattr")) {
		ssize_t r = getxattr(argv[2], argv[3], buf, sizeof buf);
		if (r < 0) { printf("ERR %s\n", strerrorname_np(errno)); return 2; }
		fwrite(buf, 1, (size_t)r, stdout);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "listxattr")) {
		ssize_t r = listxattr(argv[2], buf, sizeof buf);
		if (r < 0) { printf("ERR %s\n", strerrorname_np(errno)); return 2; }
		for (ssize_t i = 0; i < r; i += (ssize_t)strlen(buf + i) + 1) printf("%s\n", buf + i);
		return 0;
	}
	fprintf(stderr, "usage: helper mmapcmp|xxh3|getxattr|listxattr ...\n");
	return 64;
}
`;

let HELPER = null;
function helper(...args) {
  if (!HELPER) {
    const src = path.join(TMP, 'helper.c');
    HELPER = path.join(TMP, 'helper');
    fs.writeFileSync(src, HELPER_C);
    execFileSync('cc', ['-O2', '-o', HELPER, src, '-lxxhash'], { stdio: 'pipe' });
  }
  const r = spawnSync(HELPER, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr };
}

async function readStats(mnt) {
  return JSON.parse(fs.readFileSync(path.join(mnt, 'stats.json'), 'utf8'));
}

function expectEIO(fn, what) {
  assert.throws(fn, e => e.code === 'EIO', `${what}: expected EIO`);
}

// ------------------------------------------------------------- set-up ----

before(() => {
  for (const bin of [GGUFFS, CONVERT, INSPECT])
    assert.ok(fs.existsSync(bin), `${bin} missing: build first (ninja -C build)`);
  for (const fx of ALL_FIXTURES)
    assert.ok(fs.existsSync(path.join(FIXTURES, fx, 'config.json')),
      `fixture ${fx} missing in ${FIXTURES}: node tests/fixtures/make-fixtures.mjs ${FIXTURES}`);
});

after(async () => {
  for (const m of [...live]) await unmount(m);
  const left = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(l => l.includes(TMP));
  fs.rmSync(TMP, { recursive: true, force: true });
  assert.deepEqual(left, [], 'mounts left behind');
});

// -------------------------------------------------- per fixture/profile ----

for (const fx of ALL_FIXTURES) {
  for (const profile of PROFILES) {
    describe(`${fx} (${profile})`, () => {
      const hf = path.join(FIXTURES, fx);
      const opts = ['-o', `profile=${profile}`];
      let ref, refBuf, info;
      before(() => {
        ref = convert(fx, profile);
        refBuf = fs.readFileSync(ref);
        info = inspect(ref);
      });

      test('8 concurrent readers at random offsets match the converted file', async () => {
        // A small cache, so the readers also race on eviction.
        await withMount(hf, [...opts, '-o', 'cache_size=3M,chunk_size=1M'], async m => {
          const file = path.join(m.mnt, 'model.gguf');
          assert.equal(fs.statSync(file).size, refBuf.length);
          const res = await randomReaders(file, ref);
          for (const r of res) assert.equal(r.bad, null);
          const st = await readStats(m.mnt);
          assert.ok(st.cache.peak_bytes <= st.cache.budget, `cache peak ${st.cache.peak_bytes} above budget`);
          assert.equal(st.read_errors, 0);
        });
      });

      test('mmap reads match (random page faults, then llama.cpp-style populate)', async () => {
        await withMount(hf, opts, async m => {
          const file = path.join(m.mnt, 'model.gguf');
          let r = helper('mmapcmp', file, ref, 'random');
          assert.equal(r.out, 'ok', `random-order mmap: ${r.out} ${r.err}`);
        });
        await withMount(hf, opts, async m => {
          const r = helper('mmapcmp', path.join(m.mnt, 'model.gguf'), ref, 'seq');
          assert.equal(r.out, 'ok', `populated mmap: ${r.out} ${r.err}`);
        });
      });

      test('whole model.gguf, tensors/, xattrs and metadata.json agree with the conversion', async () => {
        await withMount(hf, opts, async m => {
          const file = path.join(m.mnt, 'model.gguf');
          const st = fs.statSync(file);
          assert.equal(st.size, refBuf.length);
          assert.equal(st.mode & 0o7777, 0o444);
          assert.equal(st.mtimeMs, fs.statSync(hf).mtimeMs, 'mtime of the source directory');
          const got = fs.readFileSync(file);
          assert.equal(sha256(got), sha256(refBuf), 'sha256 differs');
          assertSameBytes(got, refBuf, 'model.gguf');

          // tensors/: one file per tensor, exactly its slice.
          const names = fs.readdirSync(path.join(m.mnt, 'tensors')).sort();
          assert.deepEqual(names, info.tensors.map(t => tensorFile(t.name)).sort());
          for (const t of info.tensors) {
            const p = path.join(m.mnt, 'tensors', tensorFile(t.name));
            assert.equal(fs.statSync(p).size, t.size, `${t.name} size`);
            assertSameBytes(fs.readFileSync(p), refBuf.subarray(t.offset, t.offset + t.size), `tensors/${t.name}`);
          }

          // xattrs.
          for (const t of info.tensors) {
            const p = path.join(m.mnt, 'tensors', tensorFile(t.name));
            assert.deepEqual(helper('listxattr', p).out.split('\n').sort(),
              ['user.gguf.offset', 'user.gguf.shape', 'user.gguf.type', 'user.gguf.xxh3']);
            assert.equal(helper('getxattr', p, 'user.gguf.type').out, t.type, `${t.name} type`);
            assert.equal(helper('getxattr', p, 'user.gguf.shape').out, t.dims.join(','), `${t.name} shape`);
            assert.equal(helper('getxattr', p, 'user.gguf.offset').out, String(t.offset), `${t.name} offset`);
            const want = helper('xxh3', ref, String(t.offset), String(t.size)).out;
            assert.match(want, /^[0-9a-f]{16}$/);
            assert.equal(helper('getxattr', p, 'user.gguf.xxh3').out, want, `${t.name} xxh3`);
            assert.equal(helper('getxattr', p, 'user.gguf.xxh3').out, want, `${t.name} xxh3 (remembered)`);
            assert.equal(helper('getxattr', p, 'user.gguf.nope').out, 'ERR ENODATA');
          }

          // metadata.json.
          const meta = JSON.parse(fs.readFileSync(path.join(m.mnt, 'metadata.json'), 'utf8'));
          assert.equal(meta.profile, profile);
          assert.equal(meta.size, refBuf.length);
          assert.equal(typeof meta.llamacpp_loadable, 'boolean');
          assert.deepEqual(meta.kv, info.kv, 'metadata.json kv vs gguffs-inspect');
          const pick = t => ({ name: t.name, type: t.type, dims: t.dims, offset: t.offset, size: t.size });
          assert.deepEqual(meta.tensors.map(pick), info.tensors.map(pick), 'metadata.json tensors vs gguffs-inspect');
          const shards = new Set(fs.readdirSync(hf).filter(f => f.endsWith('.safetensors')));
          for (const t of meta.tensors) {
            assert.ok(t.sources.length >= 1, `${t.name}: no sources`);
            for (const s of t.sources) {
              if (s.synthetic) continue;
              assert.ok(shards.has(s.file), `${t.name}: source file ${s.file}`);
              assert.equal(typeof s.tensor, 'string');
            }
          }

          // stats.json: live, valid JSON (its exact size: daemon.test.mjs).
          const stats = await readStats(m.mnt);
          assert.ok(stats.bytes_copied + stats.bytes_materialised > 0);
          assert.equal(stats.read_errors, 0);
        });
      });
    });
  }
}

// ----------------------------------------------------------- the cache ----

describe('cache budget', () => {
  test('stats.json: cache never above its budget after reading everything (F32 -> F16)', async () => {
    const fx = 'llama-f32-tied', hf = path.join(FIXTURES, fx);
    const ref = convert(fx, 'llamacpp');
    await withMount(hf, ['-o', 'cache_size=4M,chunk_size=1M'], async m => {
      const before = await readStats(m.mnt);
      assert.equal(before.cache.budget, 4 << 20);
      assert.equal(before.cache.chunk_size, 1 << 20);
      assertSameBytes(fs.readFileSync(path.join(m.mnt, 'model.gguf')), fs.readFileSync(ref), 'model.gguf');
      const res = await randomReaders(path.join(m.mnt, 'model.gguf'), ref, { iters: 50 });
      for (const r of res) assert.equal(r.bad, null);
      const st = await readStats(m.mnt);
      assert.ok(st.bytes_materialised > 3 * st.cache.budget,
        `expected the converted matrices (${st.bytes_materialised} bytes) to overflow the 4M cache`);
      assert.ok(st.cache.evictions > 0);
      assert.ok(st.cache.peak_bytes <= st.cache.budget, `peak ${st.cache.peak_bytes} > budget ${st.cache.budget}`);
      assert.ok(st.cache.cur_bytes <= st.cache.budget);
      assert.ok(st.reads > before.reads, 'stats.json is live');
    });
  });
});

// ------------------------------------------------ source page cache ----

// By default the daemon drops the source pages it has consumed, so the
// page cache holds the model once (the mount's pages); keep_source_cache
// keeps them. Either way every byte served is the converted file's: a whole
// read, then random ranges in a fresh mount (which then re-reads what the
// first mount dropped).
describe('source page cache', () => {
  const shardsOf = hf => fs.readdirSync(hf).filter(f => f.endsWith('.safetensors')).map(f => path.join(hf, f));
  const residentBytes = files => files.reduce((n, f) => {
    const r = helper('resident', f);
    assert.match(r.out, /^\d+$/, `resident ${f}: ${r.out} ${r.err}`);
    return n + Number(r.out);
  }, 0);
  for (const fx of ['llama-bf16-3shard-rope3', 'llama-f32-tied']) {
    for (const keep of [false, true]) {
      test(`${fx}: ${keep ? 'keep_source_cache keeps' : 'default drops'} source pages, bytes unchanged`, async () => {
        // A private copy: other tests' mounts of the shared fixture drop
        // (and their reads cache) its pages while this one measures them.
        // The reference is the copy's own conversion: in the llamacpp
        // profile the directory's name is the model's name (naming.h).
        const hf = copyDir(path.join(FIXTURES, fx)), ref = path.join(hf + '.gguf');
        execFileSync(CONVERT, [hf, ref], { stdio: 'pipe' });
        const refBuf = fs.readFileSync(ref);
        const shards = shardsOf(hf), total = shards.reduce((n, f) => n + fs.statSync(f).size, 0);
        const opts = keep ? ['-o', 'keep_source_cache'] : [];
        for (const f of shards) { // written back (dirty pages cannot be dropped), then warm
          const fd = fs.openSync(f, 'r'); fs.fsyncSync(fd); fs.closeSync(fd);
          fs.readFileSync(f);
        }
        assert.ok(residentBytes(shards) > total * 0.9, 'shards cached before the read');
        await withMount(hf, opts, async m => {
          assertSameBytes(fs.readFileSync(path.join(m.mnt, 'model.gguf')), refBuf, 'whole model.gguf');
          const st = await readStats(m.mnt);
          assert.equal(st.source_cache.dropping, !keep);
          const left = residentBytes(shards);
          if (keep) {
            assert.equal(st.source_cache.drops, 0);
            assert.ok(left > total * 0.9, `keep_source_cache: only ${left} of ${total} source bytes still cached`);
          } else {
            assert.ok(st.source_cache.blocks > 0);
            assert.equal(st.source_cache.drops, st.source_cache.blocks, 'every block dropped once');
            assert.ok(left < total * 0.05, `${left} of ${total} source bytes still cached after the read`);
          }
        });
        await withMount(hf, [...opts, '-o', 'cache_size=3M,chunk_size=1M'], async m => {
          const res = await randomReaders(path.join(m.mnt, 'model.gguf'), ref, { iters: 150 });
          for (const r of res) assert.equal(r.bad, null);
          assert.equal((await readStats(m.mnt)).read_errors, 0);
        });
      });
    }
  }
});

// ------------------------------------------------------- consistency ----

describe('consistency', () => {
  test('a source shard truncated under the mount gives EIO (byte-copy tensors)', async () => {
    const src = copyDir(path.join(FIXTURES, 'llama-bf16-3shard-rope3'));
    await withMount(src, [], async m => {
      const meta = JSON.parse(fs.readFileSync(path.join(m.mnt, 'metadata.json'), 'utf8'));
      const shardOf = t => t.sources[0]?.file;
      const victim = meta.tensors.find(t => t.copy && shardOf(t) === 'model-00003-of-00003.safetensors' && t.size >= 4096);
      const intact = meta.tensors.find(t => t.copy && shardOf(t) === 'model-00001-of-00003.safetensors' && t.size >= 4096);
      assert.ok(victim && intact, 'fixture has byte-copy tensors in shards 1 and 3');
      const shard = path.join(src, 'model-00003-of-00003.safetensors');
      fs.truncateSync(shard, Math.floor(fs.statSync(shard).size / 2));
      expectEIO(() => fs.readFileSync(path.join(m.mnt, 'tensors', tensorFile(victim.name))), victim.name);
      const fd = fs.openSync(path.join(m.mnt, 'model.gguf'), 'r');
      try {
        expectEIO(() => fs.readSync(fd, Buffer.alloc(4096), 0, 4096, victim.offset), 'model.gguf at the tensor');
      } finally { fs.closeSync(fd); }
      // Tensors of other shards still read fine.
      assert.equal(fs.readFileSync(path.join(m.mnt, 'tensors', tensorFile(intact.name))).length, intact.size);
      await sleep(50);
      const lines = m.stderr.split('\n').filter(l => l.includes('model-00003-of-00003.safetensors'));
      assert.equal(lines.length, 1, `logged once: ${m.stderr}`);
    });
  });

  test('a source replaced under the mount gives EIO (converted tensors)', async () => {
    const src = copyDir(path.join(FIXTURES, 'llama-f32-tied'));
    await withMount(src, [], async m => {
      const meta = JSON.parse(fs.readFileSync(path.join(m.mnt, 'metadata.json'), 'utf8'));
      const victim = meta.tensors.find(t => !t.copy && t.size >= 4096);
      assert.ok(victim, 'fixture has converted tensors');
      const shard = path.join(src, 'model.safetensors');
      const tmp = shard + '.new';
      fs.copyFileSync(shard, tmp);
      fs.renameSync(tmp, shard); // same bytes, another file
      expectEIO(() => fs.readFileSync(path.join(m.mnt, 'tensors', tensorFile(victim.name))), victim.name);
    });
  });
});

// ---------------------------------------------------------- bad input ----

describe('bad input refuses the mount', () => {
  const base = () => copyDir(path.join(FIXTURES, 'llama-bf16'));
  const cases = [
    ['HFDIR is not a directory', () => path.join(FIXTURES, 'llama-bf16', 'config.json'), /not a directory/],
    ['HFDIR does not exist', () => path.join(TMP, 'no-such-dir'), /no-such-dir/],
    ['unsupported architecture', () => {
      const d = base();
      const c = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));
      c.architectures = ['FrobnicatorForCausalLM'];
      fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(c));
      return d;
    }, /FrobnicatorForCausalLM.*LlamaForCausalLM|LlamaForCausalLM.*FrobnicatorForCausalLM/],
    ['missing config.json', () => { const d = base(); fs.unlinkSync(path.join(d, 'config.json')); return d; }, /config\.json/],
    ['malformed config.json', () => { const d = base(); fs.writeFileSync(path.join(d, 'config.json'), '{"architectures": ['); return d; }, /config\.json/],
    ['missing tokenizer', () => { const d = base(); fs.unlinkSync(path.join(d, 'tokenizer.json')); return d; }, /tokenizer/],
    ['malformed safetensors header', () => {
      const d = base();
      const fd = fs.openSync(path.join(d, 'model.safetensors'), 'r+');
      fs.writeSync(fd, Buffer.from('{"x": not json'), 0, 14, 8);
      fs.closeSync(fd);
      return d;
    }, /model\.safetensors/],
    ['no safetensors', () => { const d = base(); fs.unlinkSync(path.join(d, 'model.safetensors')); return d; }, /safetensors/],
    ['bad profile', () => path.join(FIXTURES, 'llama-bf16'), /profile/, ['-o', 'profile=nonsense']],
    ['bad cache_size', () => path.join(FIXTURES, 'llama-bf16'), /cache_size/, ['-o', 'cache_size=lots']],
    ['chunk_size below 1M', () => path.join(FIXTURES, 'llama-bf16'), /chunk_size/, ['-o', 'chunk_size=64K']],
  ];
  for (const [what, make, re, opts = []] of cases) {
    test(what, () => {
      const hf = make();
      const mnt = fs.mkdtempSync(path.join(TMP, 'mnt-'));
      const r = spawnSync(GGUFFS, ['-f', ...opts, hf, mnt], { encoding: 'utf8', timeout: 20000 });
      try {
        assert.notEqual(r.status, 0, 'exit status');
        assert.equal(r.signal, null);
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
        assert.match(lines[0], /^gguffs: /);
        assert.match(lines[0], re);
        assert.equal(isMounted(mnt), false, 'nothing mounted');
      } finally {
        if (isMounted(mnt)) spawnSync('fusermount3', ['-u', mnt]);
        fs.rmdirSync(mnt);
      }
    });
  }
});

// --------------------------------------------------------- conventions ----

describe('command line', () => {
  test('--help and --version', () => {
    const h = spawnSync(GGUFFS, ['--help'], { encoding: 'utf8' });
    assert.equal(h.status, 0);
    assert.match(h.stdout, /MODEL MOUNTPOINT/);
    assert.match(h.stdout + h.stderr, /cache_size/);
    const v = spawnSync(GGUFFS, ['--version'], { encoding: 'utf8' });
    assert.equal(v.status, 0);
    assert.match(v.stdout, /gguffs version \d+\.\d+/);
  });

  test('-s (single-threaded) and -o max_read=131072 mount and read correctly', async () => {
    const fx = 'llama-bf16', hf = path.join(FIXTURES, fx), ref = convert(fx, 'llamacpp');
    await withMount(hf, ['-s', '-o', 'max_read=131072'], async m => {
      assertSameBytes(fs.readFileSync(path.join(m.mnt, 'model.gguf')), fs.readFileSync(ref), 'model.gguf');
    });
  });

  test('read-only: writes are refused', async () => {
    await withMount(path.join(FIXTURES, 'llama-spm'), [], async m => {
      assert.throws(() => fs.openSync(path.join(m.mnt, 'model.gguf'), 'r+'), e => e.code === 'EROFS' || e.code === 'EACCES');
      assert.throws(() => fs.writeFileSync(path.join(m.mnt, 'new'), 'x'), e => e.code === 'EROFS' || e.code === 'EACCES');
    });
  });
});
