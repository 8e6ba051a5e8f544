// gguffs as a daemon: mountpoints it must refuse (a regular file, a
// mountpoint already serving a gguffs, -o rw), exit status 0 after SIGTERM
// and SIGINT, df showing the source as the filesystem and each byte once,
// stats.json with its true size and the last errors, --help listing the
// architectures and profiles, and the EIO reasons of a daemonised mount
// reaching syslog (ident gguffs), read back from a syslog socket of the
// test's own, in a private mount namespace (needs root; skipped otherwise).
//
// Env: GGUFFS_BUILD, GGUFFS_FIXTURES (see harness.mjs).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { FIXTURES, CONVERT, GGUFFS, makeTmp, removeTmp, sha256File } from './harness.mjs';

const FX = path.join(FIXTURES, 'llama-bf16');
const ROOT = process.getuid() === 0;
let TMP;
const live = new Set();

const sleep = ms => new Promise(r => setTimeout(r, ms));
const sha256 = buf => crypto.createHash('sha256').update(buf).digest('hex');

function isMounted(mnt) {
  const real = fs.existsSync(mnt) ? fs.realpathSync(mnt) : mnt;
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some(l => l.split(' ')[4] === real);
}

// gguffs -f ARGS HFDIR MNT; resolves once model.gguf shows.
async function mount(hfdir, args = [], mnt = fs.mkdtempSync(path.join(TMP, 'mnt-'))) {
  const child = spawn(GGUFFS, ['-f', ...args, hfdir, mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
  const m = { mnt, child, stderr: '', exited: null };
  child.stderr.on('data', d => { m.stderr += d; });
  m.exitP = new Promise(res => child.on('exit', (code, sig) => { m.exited = { code, sig }; res(m.exited); }));
  live.add(m);
  for (const t0 = Date.now(); !(isMounted(mnt) && fs.existsSync(path.join(mnt, 'model.gguf')));) {
    if (m.exited) throw new Error(`gguffs exited ${JSON.stringify(m.exited)}: ${m.stderr}`);
    if (Date.now() - t0 > 20000) throw new Error(`not mounted after 20 s: ${m.stderr}`);
    await sleep(10);
  }
  return m;
}

async function stop(m, how = 'fusermount') {
  if (!live.has(m)) return m.exited;
  live.delete(m);
  if (how === 'fusermount') spawnSync('fusermount3', ['-u', m.mnt]);
  else m.child.kill(how);
  const done = await Promise.race([m.exitP, sleep(10000).then(() => null)]);
  if (!done) {
    m.child.kill('SIGKILL');
    spawnSync('fusermount3', ['-uz', m.mnt]);
    await m.exitP;
  }
  return m.exited;
}

// Run gguffs expecting a refusal: exit 1, one line on stderr matching re.
function refused(args, re) {
  const r = spawnSync(GGUFFS, args, { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 1, `exit status; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^gguffs: /);
  assert.match(lines[0], re);
  return lines[0];
}

before(() => { TMP = makeTmp('gguffs-daemon-'); });
after(async () => {
  for (const m of [...live]) await stop(m);
  removeTmp(TMP);
});

describe('mountpoints and options gguffs refuses', () => {
  test('a regular file as mountpoint', () => {
    const file = path.join(TMP, 'a-file');
    fs.writeFileSync(file, 'contents');
    refused(['-f', FX, file], /a-file: not a directory/);
    refused([FX, file], /a-file: not a directory/); // daemonising too
    assert.equal(isMounted(file), false);
    assert.equal(fs.readFileSync(file, 'utf8'), 'contents');
  });

  test('a second gguffs on the same mountpoint, which keeps serving', async () => {
    const m = await mount(FX);
    try {
      const line = refused(['-f', path.join(FIXTURES, 'llama-f16'), m.mnt], /already mounted here/);
      assert.ok(line.includes(FX), `names the source already mounted: ${line}`);
      assert.match(line, /fusermount3 -u/);
      const stack = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
        .filter(l => l.split(' ')[4] === fs.realpathSync(m.mnt));
      assert.equal(stack.length, 1, 'one mount on the mountpoint');
      const ref = path.join(TMP, 'bf16.gguf');
      execFileSync(CONVERT, [FX, ref], { stdio: 'pipe' });
      assert.equal(sha256File(path.join(m.mnt, 'model.gguf')), sha256File(ref));
    } finally { assert.deepEqual(await stop(m), { code: 0, sig: null }); }
  });

  test('-o rw (alone or after ro)', () => {
    const mnt = fs.mkdtempSync(path.join(TMP, 'mnt-'));
    for (const o of ['rw', 'ro,rw', 'profile=ollama,rw'])
      refused(['-f', '-o', o, FX, mnt], /read-only: -o rw is refused/);
    assert.equal(isMounted(mnt), false);
  });
});

describe('signals', () => {
  for (const sig of ['SIGTERM', 'SIGINT']) {
    test(`${sig} unmounts and exits 0`, async () => {
      const m = await mount(FX);
      const ex = await stop(m, sig);
      assert.deepEqual(ex, { code: 0, sig: null }, `exit after ${sig}; stderr: ${m.stderr}`);
      assert.equal(isMounted(m.mnt), false, 'unmounted');
    });
  }
});

describe('df and stats.json', () => {
  const statfs = mnt => {
    const [src, blocks, used, avail] = execFileSync('df', ['-B4096', '--output=source,size,used,avail', mnt], { encoding: 'utf8' })
      .trim().split('\n')[1].trim().split(/\s+/);
    return { src, blocks: Number(blocks), used: Number(used), avail: Number(avail) };
  };

  test('df shows the source directory and counts each byte once', async () => {
    for (const fx of ['llama-bf16', 'llama4-tiny']) {
      const hf = path.join(FIXTURES, fx);
      const m = await mount(hf);
      try {
        const d = statfs(m.mnt);
        assert.equal(d.src, hf, 'filesystem column');
        // Each .gguf shows twice (model.gguf and its conventional name,
        // one inode): count inodes, as df must.
        const ggufs = fs.readdirSync(m.mnt).filter(f => f.endsWith('.gguf'));
        const inodes = new Map(ggufs.map(f => { const st = fs.statSync(path.join(m.mnt, f)); return [st.ino, st.size]; }));
        assert.equal(inodes.size * 2, ggufs.length, `two names per file: ${ggufs.join(' ')}`);
        const bytes = [...inodes.values()].reduce((s, n) => s + n, 0);
        assert.equal(d.blocks, Math.ceil(bytes / 4096), `${fx}: blocks of ${ggufs.join('+')}`);
        const tensorBytes = fs.readdirSync(path.join(m.mnt, 'tensors'))
          .reduce((s, f) => s + fs.statSync(path.join(m.mnt, 'tensors', f)).size, 0);
        assert.ok(tensorBytes > bytes / 2, 'tensors/ holds most of the bytes, not counted again');
        assert.equal(d.avail, 0);
        const src = execFileSync('findmnt', ['-n', '-o', 'SOURCE,FSTYPE', m.mnt], { encoding: 'utf8' }).trim().split(/\s+/);
        assert.deepEqual(src, [hf, 'fuse.gguffs']);
      } finally { await stop(m); }
    }
  });

  test('a relative source is shown absolute; commas survive', async () => {
    const dir = path.join(TMP, 'odd,name');
    fs.symlinkSync(FX, dir);
    const mnt = fs.mkdtempSync(path.join(TMP, 'mnt-'));
    const c = spawn(GGUFFS, ['-f', 'odd,name', mnt], { cwd: TMP, stdio: ['ignore', 'ignore', 'pipe'] });
    const m = { mnt, child: c, stderr: '', exited: null };
    c.stderr.on('data', d => { m.stderr += d; });
    m.exitP = new Promise(res => c.on('exit', (code, sig) => { m.exited = { code, sig }; res(m.exited); }));
    live.add(m);
    for (const t0 = Date.now(); !isMounted(mnt); await sleep(10)) {
      if (m.exited || Date.now() - t0 > 20000) throw new Error(`not mounted: ${m.stderr}`);
    }
    try {
      assert.equal(statfs(mnt).src, dir);
    } finally { await stop(m); }
  });

  test('stats.json: its size is its length; the last errors name the file', async () => {
    const src = fs.mkdtempSync(path.join(TMP, 'src-'));
    for (const f of fs.readdirSync(FX)) fs.copyFileSync(path.join(FX, f), path.join(src, f));
    const m = await mount(src);
    try {
      const p = path.join(m.mnt, 'stats.json');
      for (let i = 0; i < 3; i++) {
        const size = fs.statSync(p).size;
        const text = fs.readFileSync(p, 'utf8');
        assert.equal(Buffer.byteLength(text), size, 'stat size == bytes read');
        const fd = fs.openSync(p, 'r');
        try {
          const st = fs.fstatSync(fd);
          const buf = Buffer.alloc(st.size + 100);
          assert.equal(fs.readSync(fd, buf, 0, buf.length, 0), st.size, 'fstat size == the open snapshot');
        } finally { fs.closeSync(fd); }
        const j = JSON.parse(text);
        assert.equal(j.errors_logged, 0);
        assert.deepEqual(j.last_errors, []);
        assert.doesNotMatch(text, / {8,}$/, 'no padding');
      }
      // Grow the counters: the size follows. (Not model.gguf: its cached
      // chunks would serve the reads below without touching the source.)
      fs.readFileSync(path.join(m.mnt, 'tensors', 'blk.0.attn_k.weight'));
      const big = fs.readFileSync(p, 'utf8');
      assert.equal(fs.statSync(p).size, Buffer.byteLength(fs.readFileSync(p, 'utf8')));
      assert.ok(JSON.parse(big).reads > 0);
      // An EIO: the source shrinks under the mount.
      const shard = path.join(src, 'model.safetensors');
      fs.truncateSync(shard, 1000);
      assert.throws(() => fs.readFileSync(path.join(m.mnt, 'tensors', 'token_embd.weight')), e => e.code === 'EIO');
      assert.throws(() => fs.readFileSync(path.join(m.mnt, 'tensors', 'output_norm.weight')), e => e.code === 'EIO');
      const j = JSON.parse(fs.readFileSync(p, 'utf8'));
      assert.equal(j.errors_logged, 1, 'once per file');
      assert.equal(j.last_errors.length, 1);
      assert.match(j.last_errors[0].message, /model\.safetensors/);
      assert.match(j.last_errors[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.ok(Math.abs(Date.parse(j.last_errors[0].time) - Date.now()) < 120000);
      assert.ok(j.read_errors >= 2);
    } finally { await stop(m); }
  });
});

describe('discoverability', () => {
  test('--help lists the architecture of every fixture gguffs opens, and the profiles', () => {
    const h = spawnSync(GGUFFS, ['--help'], { encoding: 'utf8' }).stdout;
    const archs = new Set();
    for (const fx of fs.readdirSync(FIXTURES)) {
      const cfg = path.join(FIXTURES, fx, 'config.json');
      if (!fs.existsSync(cfg)) continue;
      const arch = JSON.parse(fs.readFileSync(cfg, 'utf8')).architectures?.[0];
      // Fixtures may exist before their converter: count those gguffs opens.
      if (arch && spawnSync(CONVERT, ['--check', path.join(FIXTURES, fx)]).status === 0) archs.add(arch);
    }
    for (const a of ['LlamaForCausalLM', 'Llama4ForConditionalGeneration', 'MllamaForConditionalGeneration', 'Glm4MoeLiteForCausalLM'])
      assert.ok(archs.has(a), `fixture of ${a} opens`);
    for (const a of archs) assert.match(h, new RegExp(`^ +${a} +\\S+`, 'm'), `${a} in --help`);
    for (const p of ['llamacpp', 'ollama', 'ollama-legacy']) assert.match(h, new RegExp(`^ +${p} +\\S`, 'm'), p);
    assert.match(h, /MllamaForConditionalGeneration +mllama \(no upstream llama\.cpp runtime\)/);
  });
});

// ------------------------------------------------------------- syslog ----
// listen SOCK OUT: bind a datagram socket at SOCK, append each message and
// a newline to OUT until killed.
const LISTEN_C = String.raw`
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(int argc, char **argv) {
	if (argc != 3) return 64;
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
	unlink(argv[1]);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a)) { perror("bind"); return 1; }
	FILE *out = fopen(argv[2], "a");
	char buf[8192];
	for (;;) {
		ssize_t n = recv(s, buf, sizeof buf, 0);
		if (n <= 0) continue;
		fwrite(buf, 1, (size_t)n, out);
		fputc('\n', out);
		fflush(out);
	}
}
`;

// In a private mount namespace, /dev becomes a tmpfs holding the devices
// gguffs needs plus /dev/log, the listener's socket: nothing outside the
// namespace sees the socket or the mount.
const SYSLOG_SH = String.raw`
set -eu
LISTEN=$1 GGUFFS=$2 SRC=$3 MNT=$4 OUT=$5 REAL=$6
mount --make-rprivate /
mount --bind /dev "$REAL"
mount -t tmpfs -o mode=755 gguffs-test-dev /dev
for n in null zero full random urandom fuse; do
  touch /dev/$n; mount --bind "$REAL/$n" /dev/$n
done
ln -s /proc/self/fd /dev/fd
"$LISTEN" /dev/log "$OUT" & LP=$!
for i in $(seq 100); do [ -S /dev/log ] && break; sleep 0.05; done
"$GGUFFS" "$SRC" "$MNT"                      # daemonises
truncate -s 1000 "$SRC/model.safetensors"
for i in 1 2 3; do cat "$MNT/tensors/token_embd.weight" >/dev/null 2>&1 && exit 3; done
cat "$MNT/tensors/output_norm.weight" >/dev/null 2>&1 && exit 3
umount "$MNT"
for i in $(seq 100); do grep -q 'model.safetensors' "$OUT" && break; sleep 0.05; done
sleep 0.2
kill $LP
`;

describe('syslog once daemonised', () => {
  test('an EIO reason reaches syslog (ident gguffs), once per file, naming it',
    { skip: ROOT ? false : 'needs root (a private mount namespace for a test syslog socket)' }, () => {
      const dir = fs.mkdtempSync(path.join(TMP, 'syslog-'));
      const listen = path.join(dir, 'listen');
      fs.writeFileSync(listen + '.c', LISTEN_C);
      execFileSync('cc', ['-O1', '-o', listen, listen + '.c'], { stdio: 'pipe' });
      const src = path.join(dir, 'src'), mnt = path.join(dir, 'mnt'), real = path.join(dir, 'realdev');
      fs.mkdirSync(src); fs.mkdirSync(mnt); fs.mkdirSync(real);
      for (const f of fs.readdirSync(FX)) fs.copyFileSync(path.join(FX, f), path.join(src, f));
      const out = path.join(dir, 'syslog.txt');
      fs.writeFileSync(path.join(dir, 'run.sh'), SYSLOG_SH);
      const r = spawnSync('unshare', ['-m', 'bash', path.join(dir, 'run.sh'), listen, GGUFFS, src, mnt, out, real],
        { encoding: 'utf8', timeout: 60000 });
      assert.equal(r.status, 0, `namespace script: ${r.status} ${r.stderr}`);
      const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
      const eio = lines.filter(l => l.includes('model.safetensors'));
      assert.equal(eio.length, 1, `one line for the file: ${lines.join('\n')}`);
      // RFC 3164 as glibc writes it: <PRI>TIMESTAMP gguffs[PID]: MSG, PRI = daemon.err.
      assert.match(eio[0], /^<27>\w{3} [ \d]\d \d\d:\d\d:\d\d gguffs\[\d+\]: .*model\.safetensors.*EIO/);
      assert.equal(isMounted(mnt), false);
    });

  test('in the foreground the same reason goes to stderr', async () => {
    const src = fs.mkdtempSync(path.join(TMP, 'src-'));
    for (const f of fs.readdirSync(FX)) fs.copyFileSync(path.join(FX, f), path.join(src, f));
    const m = await mount(src);
    try {
      fs.truncateSync(path.join(src, 'model.safetensors'), 1000);
      assert.throws(() => fs.readFileSync(path.join(m.mnt, 'tensors', 'token_embd.weight')), e => e.code === 'EIO');
      await sleep(50);
      assert.match(m.stderr, /^gguffs: .*model\.safetensors.*EIO/m);
    } finally { await stop(m); }
  });
});

// ------------------------------------------------------------ SIGUSR1 ----

describe('SIGUSR1: re-validate the sources', () => {
  const copyOf = fx => {
    const d = fs.mkdtempSync(path.join(TMP, 'usr1-'));
    for (const f of fs.readdirSync(path.join(FIXTURES, fx))) fs.copyFileSync(path.join(FIXTURES, fx, f), path.join(d, f));
    return d;
  };
  const fresh = dir => {
    const out = path.join(TMP, `fresh-${path.basename(dir)}-${Date.now()}.gguf`);
    execFileSync(CONVERT, [dir, out], { stdio: 'pipe' });
    return out;
  };
  const meta = m => JSON.parse(fs.readFileSync(path.join(m.mnt, 'metadata.json'), 'utf8'));
  const tensorPath = (m, name) => path.join(m.mnt, 'tensors', name.replace(/%/g, '%25').replace(/\//g, '%2F'));
  // Send SIGUSR1 and wait for the daemon's report of it.
  async function usr1(m) {
    const before = (m.stderr.match(/SIGUSR1: /g) || []).length;
    m.child.kill('SIGUSR1');
    for (const t0 = Date.now(); (m.stderr.match(/SIGUSR1: /g) || []).length === before; await sleep(20)) {
      if (m.exited) throw new Error(`gguffs exited on SIGUSR1: ${JSON.stringify(m.exited)} ${m.stderr}`);
      if (Date.now() - t0 > 20000) throw new Error(`no SIGUSR1 report: ${m.stderr}`);
    }
    return m.stderr.trim().split('\n').filter(l => l.includes('SIGUSR1: ')).pop();
  }

  test('touch a shard: EIO, then after SIGUSR1 the bytes of a fresh convert', async () => {
    const src = copyOf('llama-bf16-3shard-rope3');
    const m = await mount(src);
    try {
      assert.equal(sha256File(path.join(m.mnt, 'model.gguf')), sha256File(fresh(src)));
      const shard = 'model-00002-of-00003.safetensors';
      const victim = meta(m).tensors.find(t => t.copy && t.sources[0].file === shard && t.size >= 4096);
      assert.ok(victim, 'a byte-copy tensor of shard 2');
      const now = new Date(Date.now() + 5000);
      fs.utimesSync(path.join(src, shard), now, now); // touch
      assert.throws(() => fs.readFileSync(tensorPath(m, victim.name)), e => e.code === 'EIO');
      const line = await usr1(m);
      assert.match(line, /1 of 3 source files changed, \d+ tensors may read differently, the layout is the same: serving the sources again/);
      const want = fs.readFileSync(fresh(src));
      assert.deepEqual(fs.readFileSync(tensorPath(m, victim.name)), want.subarray(victim.offset, victim.offset + victim.size));
      assert.equal(sha256File(path.join(m.mnt, 'model.gguf')), sha256(want), 'model.gguf equals a fresh convert');
      const st = JSON.parse(fs.readFileSync(path.join(m.mnt, 'stats.json'), 'utf8'));
      assert.equal(st.reloads, 1);
      // Nothing changed since: a second SIGUSR1 says so and keeps serving.
      assert.match(await usr1(m), /no source changed/);
      assert.equal(sha256File(path.join(m.mnt, 'model.gguf')), sha256(want));
    } finally { assert.deepEqual(await stop(m), { code: 0, sig: null }); }
  });

  test('new bytes in a shard, same layout: the chunk cache and the kernel\'s cached pages are dropped', async () => {
    const src = copyOf('llama-f32-tied'); // every matrix is converted: chunk cache
    const m = await mount(src);
    try {
      const before = fs.readFileSync(path.join(m.mnt, 'model.gguf')); // now cached twice
      const info = meta(m);
      const victim = info.tensors.find(t => !t.copy && t.sources.length === 1 && !t.sources[0].synthetic && t.size >= 65536);
      assert.ok(victim, 'a converted tensor');
      const viaTensors = fs.readFileSync(tensorPath(m, victim.name));
      // Flip the sign of every float of its source, in place (same size).
      const file = path.join(src, victim.sources[0].file);
      const fd = fs.openSync(file, 'r+');
      try {
        const h = Buffer.alloc(8);
        fs.readSync(fd, h, 0, 8, 0);
        const hlen = Number(h.readBigUInt64LE(0));
        const hdr = Buffer.alloc(hlen);
        fs.readSync(fd, hdr, 0, hlen, 8);
        const ent = JSON.parse(hdr.toString())[victim.sources[0].tensor];
        assert.equal(ent.dtype, 'F32');
        const [a, b] = ent.data_offsets;
        const data = Buffer.alloc(b - a);
        fs.readSync(fd, data, 0, b - a, 8 + hlen + a);
        for (let i = 3; i < data.length; i += 4) data[i] ^= 0x80;
        fs.writeSync(fd, data, 0, data.length, 8 + hlen + a);
      } finally { fs.closeSync(fd); }
      const want = fs.readFileSync(fresh(src));
      assert.notEqual(sha256(want), sha256(before), 'the change shows in a fresh convert');
      assert.match(await usr1(m), /serving the sources again/);
      const got = fs.readFileSync(path.join(m.mnt, 'model.gguf'));
      assert.equal(sha256(got), sha256(want), 'model.gguf (page cache and chunk cache dropped) equals a fresh convert');
      const t = fs.readFileSync(tensorPath(m, victim.name));
      assert.ok(!t.equals(viaTensors), 'tensors/ file changed');
      assert.ok(t.equals(want.subarray(victim.offset, victim.offset + victim.size)));
    } finally { assert.deepEqual(await stop(m), { code: 0, sig: null }); }
  });

  test('reloads while readers run: every read is right or EIO, never other bytes', async () => {
    const src = copyOf('llama-bf16-3shard-rope3');
    const ref = fs.readFileSync(fresh(src)); // touching changes no byte
    const m = await mount(src, ['-o', 'cache_size=2M,chunk_size=1M']);
    try {
      const tensors = meta(m).tensors;
      const stopAt = Date.now() + 3000;
      const reader = async seed => {
        let x = seed, ok = 0, eio = 0;
        while (Date.now() < stopAt) {
          x = (x * 1103515245 + 12345) >>> 0;
          const t = tensors[x % tensors.length];
          try {
            const got = await fs.promises.readFile(tensorPath(m, t.name));
            assert.ok(got.equals(ref.subarray(t.offset, t.offset + t.size)), `${t.name}: wrong bytes`);
            ok++;
          } catch (e) {
            if (e.code !== 'EIO') throw e;
            eio++;
          }
        }
        return { ok, eio };
      };
      const shards = fs.readdirSync(src).filter(f => f.endsWith('.safetensors'));
      const reloader = (async () => {
        let n = 0;
        while (Date.now() < stopAt) {
          const now = new Date(Date.now() + 1000 * ++n);
          fs.utimesSync(path.join(src, shards[n % shards.length]), now, now);
          await usr1(m);
        }
        return n;
      })();
      const res = await Promise.all([reader(1), reader(2), reader(3), reader(4), reloader]);
      assert.ok(res[4] >= 2, `reloads done: ${res[4]}`);
      assert.ok(res.slice(0, 4).reduce((s, r) => s + r.ok, 0) > 0, 'reads succeeded');
      await usr1(m); // settle after the last touch
      assert.equal(sha256File(path.join(m.mnt, 'model.gguf')), sha256(ref));
    } finally { assert.deepEqual(await stop(m), { code: 0, sig: null }); }
  });

  test('a changed layout keeps failing and says why', async () => {
    const src = copyOf('llama-bf16-3shard-rope3');
    const m = await mount(src);
    try {
      const shard = 'model-00001-of-00003.safetensors';
      const victim = meta(m).tensors.find(t => t.copy && t.sources[0].file === shard && t.size >= 4096);
      const cfgPath = path.join(src, 'config.json');
      const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
      cfg.rms_norm_eps = 0.001;
      fs.writeFileSync(cfgPath, JSON.stringify(cfg));
      const now = new Date(Date.now() + 5000);
      fs.utimesSync(path.join(src, shard), now, now);
      const line = await usr1(m);
      assert.match(line, /1 of 3 source files changed and the layout changed \(model\.gguf: the header .* differs from byte \d+\).*remount/);
      assert.throws(() => fs.readFileSync(tensorPath(m, victim.name)), e => e.code === 'EIO', 'still EIO');
      const st = JSON.parse(fs.readFileSync(path.join(m.mnt, 'stats.json'), 'utf8'));
      assert.equal(st.reloads, 0);
    } finally { assert.deepEqual(await stop(m), { code: 0, sig: null }); }
  });
});
