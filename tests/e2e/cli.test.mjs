// The commands as Linux tools: gguffs-convert's outputs (-, /dev/stdout,
// pipes, devices, FIFOs, symlinks: written in place or atomically, never
// replaced), --help/--version on every command, tilde expansion of option
// values, gguffs-convert --check, and models named by hub id, resolved in a
// local hub cache laid out as huggingface_hub lays it out (refs/,
// snapshots/<commit>/ symlinks into blobs/).
//
// Env: GGUFFS_BUILD, GGUFFS_FIXTURES (see harness.mjs).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { BUILD, FIXTURES, CONVERT, GGUFFS, makeTmp, removeTmp, sha256File, mountGguffs, unmountGguffs } from './harness.mjs';

const INSPECT = path.join(BUILD, 'gguffs-inspect');
const FX = path.join(FIXTURES, 'llama-bf16');
let TMP, REF, REF_SHA;

const sha256 = buf => crypto.createHash('sha256').update(buf).digest('hex');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: opts.encoding === undefined ? 'utf8' : opts.encoding, maxBuffer: 1 << 28, timeout: 60000, ...opts });
  if (r.error) throw r.error;
  return r;
}

// gguffs-convert ARGS with stdout captured as bytes.
function convertBytes(args, opts = {}) {
  const r = run(CONVERT, args, { encoding: null, ...opts });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

before(() => {
  TMP = makeTmp('gguffs-cli-');
  REF = path.join(TMP, 'ref.gguf');
  const r = run(CONVERT, [FX, REF]);
  assert.equal(r.status, 0, r.stderr);
  REF_SHA = sha256File(REF);
});
after(() => removeTmp(TMP));

describe('gguffs-convert outputs', () => {
  test("'-' writes the file to stdout and creates no file named '-'", () => {
    const cwd = fs.mkdtempSync(path.join(TMP, 'dash-'));
    const r = convertBytes([FX, '-'], { cwd });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sha256(r.stdout), REF_SHA);
    assert.deepEqual(fs.readdirSync(cwd), []);
  });

  // Each case runs first on a private stand-in in TMP (a symlink to
  // /proc/self/fd/1, a null device node of our own), so a faulty binary
  // can only damage TMP; the machine's /dev/stdout and /dev/null are used
  // after that passed. Not root: /dev cannot be written, mknod is refused.
  const root = process.getuid() === 0;
  const machineOk = () => {
    assert.ok(fs.lstatSync('/dev/stdout').isSymbolicLink(),
      'the machine\'s /dev/stdout is not a symlink (damaged earlier?): ln -sfn /proc/self/fd/1 /dev/stdout');
    assert.ok(fs.statSync('/dev/null').isCharacterDevice(), 'the machine\'s /dev/null is not a device');
  };

  const stdoutCases = () => {
    const own = path.join(TMP, 'stdout-link');
    if (!fs.existsSync(own)) fs.symlinkSync('/proc/self/fd/1', own);
    return root ? [own, '/dev/stdout'] : ['/dev/stdout'];
  };

  test('/dev/stdout (a pipe) is written in place and stays a symlink', () => {
    machineOk();
    for (const out of stdoutCases()) {
      const before = fs.readlinkSync(out);
      const r = convertBytes([FX, out]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(sha256(r.stdout), REF_SHA, out);
      assert.ok(fs.lstatSync(out).isSymbolicLink(), `${out} is still a symlink`);
      assert.equal(fs.readlinkSync(out), before);
    }
  });

  test('/dev/stdout redirected to a regular file writes that file', () => {
    machineOk();
    for (const out of stdoutCases()) {
      const file = path.join(TMP, 'redirected.gguf');
      const fd = fs.openSync(file, 'w');
      try {
        const r = spawnSync(CONVERT, [FX, out], { stdio: ['ignore', fd, 'pipe'] });
        assert.equal(r.status, 0, r.stderr.toString());
      } finally { fs.closeSync(fd); }
      assert.ok(fs.lstatSync(out).isSymbolicLink(), `${out} is still a symlink`);
      assert.equal(sha256File(file), REF_SHA, out);
    }
  });

  test('a character device is written, never replaced (/dev/null)', () => {
    machineOk();
    const outs = ['/dev/null'];
    if (root) {
      const own = path.join(TMP, 'null');
      if (!fs.existsSync(own)) assert.equal(run('mknod', ['-m', '666', own, 'c', '1', '3']).status, 0);
      outs.unshift(own);
    }
    for (const out of outs) {
      const st0 = fs.statSync(out);
      const r = run(CONVERT, [FX, out]);
      assert.equal(r.status, 0, r.stderr);
      const st = fs.statSync(out);
      assert.ok(st.isCharacterDevice(), `${out} is still a character device`);
      assert.equal(st.rdev, st0.rdev);
      assert.equal(st.ino, st0.ino);
    }
  });

  test('a FIFO gets the bytes and stays a FIFO', async () => {
    const fifo = path.join(TMP, 'fifo');
    assert.equal(run('mkfifo', [fifo]).status, 0);
    const reader = spawn('sha256sum', [fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    reader.stdout.on('data', d => { out += d; });
    const done = new Promise(res => reader.on('exit', res));
    const w = spawn(CONVERT, [FX, fifo], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    w.stderr.on('data', d => { err += d; });
    const wcode = await new Promise(res => w.on('exit', res));
    assert.equal(wcode, 0, err);
    assert.equal(await done, 0);
    assert.equal(out.split(' ')[0], REF_SHA);
    assert.ok(fs.lstatSync(fifo).isFIFO());
  });

  test('a symlink is kept; its target is replaced atomically', () => {
    const dir = fs.mkdtempSync(path.join(TMP, 'link-'));
    fs.mkdirSync(path.join(dir, 'store'));
    const target = path.join(dir, 'store', 'real.gguf');
    fs.writeFileSync(target, 'old contents');
    fs.chmodSync(target, 0o640);
    const link = path.join(dir, 'link.gguf');
    fs.symlinkSync('store/real.gguf', link);
    const r = run(CONVERT, [FX, link]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the symlink was replaced');
    assert.equal(fs.readlinkSync(link), 'store/real.gguf');
    assert.equal(sha256File(target), REF_SHA);
    assert.equal(fs.statSync(target).mode & 0o777, 0o640, "the target's mode is kept");
    assert.deepEqual(fs.readdirSync(path.join(dir, 'store')), ['real.gguf'], 'no temporary file left');
    // A dangling symlink: its target is created.
    const dangling = path.join(dir, 'dangling.gguf');
    fs.symlinkSync('store/new.gguf', dangling);
    assert.equal(run(CONVERT, [FX, dangling]).status, 0);
    assert.ok(fs.lstatSync(dangling).isSymbolicLink());
    assert.equal(sha256File(path.join(dir, 'store', 'new.gguf')), REF_SHA);
  });

  test('a failed conversion leaves the existing output untouched and no temporary file', () => {
    const dir = fs.mkdtempSync(path.join(TMP, 'fail-'));
    const out = path.join(dir, 'out.gguf');
    fs.writeFileSync(out, 'keep me');
    const r = run(CONVERT, [path.join(FIXTURES, 'lora-bad-rank'), out]);
    assert.notEqual(r.status, 0);
    assert.equal(fs.readFileSync(out, 'utf8'), 'keep me');
    assert.deepEqual(fs.readdirSync(dir), ['out.gguf']);
  });

  test('a directory gets each file under its conventional name; a stream cannot take a two-file model', () => {
    const dir = fs.mkdtempSync(path.join(TMP, 'outdir-'));
    const r = run(CONVERT, [FX, dir]);
    assert.equal(r.status, 0, r.stderr);
    const names = fs.readdirSync(dir);
    assert.equal(names.length, 1);
    assert.match(names[0], /^Llama-Bf16-\d+M-BF16\.gguf$/);
    assert.equal(sha256File(path.join(dir, names[0])), REF_SHA);
    const two = convertBytes([path.join(FIXTURES, 'llama4-tiny'), '-']);
    assert.equal(two.status, 1);
    assert.match(two.stderr, /2 output files.*give a file name/);
    assert.equal(two.stdout.length, 0, 'nothing written');
  });
});

describe('--help and --version', () => {
  for (const [name, bin] of [['gguffs', GGUFFS], ['gguffs-convert', CONVERT], ['gguffs-inspect', INSPECT]]) {
    test(name, () => {
      for (const h of ['--help', '-h']) {
        const r = run(bin, [h]);
        assert.equal(r.status, 0, `${name} ${h}: ${r.stderr}`);
        assert.match(r.stdout, /usage: /);
      }
      for (const v of ['--version', '-V']) {
        const r = run(bin, [v]);
        assert.equal(r.status, 0, `${name} ${v}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^${name}( version)? \\d+\\.\\d+\\.\\d+`));
      }
      const bad = run(bin, ['--no-such-option']);
      assert.notEqual(bad.status, 0);
    });
  }
});

describe('tilde expansion', () => {
  test('base=~/... and HFDIR ~/... (as fstab and systemd pass them, unexpanded)', async () => {
    const home = fs.mkdtempSync(path.join(TMP, 'home-'));
    fs.symlinkSync(path.join(FIXTURES, 'llama-f32-tied'), path.join(home, 'base'));
    fs.symlinkSync(path.join(FIXTURES, 'lora-llama'), path.join(home, 'adapter'));
    const env = { ...process.env, HOME: home };
    const want = path.join(TMP, 'lora-abs.gguf'), got = path.join(TMP, 'lora-tilde.gguf');
    assert.equal(run(CONVERT, ['-o', `base=${path.join(FIXTURES, 'llama-f32-tied')}`, path.join(FIXTURES, 'lora-llama'), want]).status, 0);
    const r = run(CONVERT, ['-o', 'base=~/base', '~/adapter', got], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sha256File(got), sha256File(want));
    // Without the expansion the adapter's base cannot be found.
    const neg = run(CONVERT, ['-o', 'base=~/base', '~/adapter', got], { env: { ...process.env, HOME: TMP } });
    assert.notEqual(neg.status, 0);
    // The mount: the daemon gets the same values.
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const m = await mountGguffs(TMP, '~/adapter', { opts: 'base=~/base', file: 'adapter.gguf' });
      try {
        assert.equal(sha256File(m.path), sha256File(want));
      } finally { await unmountGguffs(m); }
    } finally { process.env.HOME = saved; }
  });
});

describe('gguffs-convert --check', () => {
  const parse = out => {
    const files = {};
    for (const m of out.matchAll(/^ {2}(\S+\.gguf)\s+(\d+) bytes, (\d+) KV, (\d+) tensors \(([^)]*)\)$/gm))
      files[m[1]] = { size: Number(m[2]), kv: Number(m[3]), tensors: Number(m[4]), types: m[5] };
    return files;
  };

  test('prints what a mount shows, writes nothing, exit 0', () => {
    const cwd = fs.mkdtempSync(path.join(TMP, 'check-'));
    const r = run(CONVERT, ['--check', FX], { cwd });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(run(INSPECT, ['--json', REF]).stdout);
    const f = parse(r.stdout)['model.gguf'];
    assert.ok(f, r.stdout);
    assert.equal(f.size, fs.statSync(REF).size);
    assert.equal(f.tensors, info.tensors.length);
    assert.equal(f.kv, info.kv.length);
    const counts = {};
    for (const t of info.tensors) counts[t.type] = (counts[t.type] || 0) + 1;
    const listed = Object.fromEntries(f.types.split(', ').map(s => s.split(' ')).map(([n, t]) => [t, Number(n)]));
    assert.deepEqual(listed, counts);
    assert.match(r.stdout, new RegExp(`^ {2}tensors/\\s+${info.tensors.length} files$`, 'm'));
    assert.match(r.stdout, /^ {2}metadata\.json$/m);
    assert.match(r.stdout, /^ {2}stats\.json$/m);
    assert.match(r.stdout, /^architecture\s+LlamaForCausalLM -> llama$/m);
    assert.match(r.stdout, /^profile\s+llamacpp$/m);
    assert.deepEqual(fs.readdirSync(cwd), [], 'nothing written');
  });

  test('every output file of a two-file model, and the notice of a model llama.cpp cannot run', () => {
    const l4 = run(CONVERT, ['--check', path.join(FIXTURES, 'llama4-tiny')]);
    assert.equal(l4.status, 0, l4.stderr);
    assert.deepEqual(Object.keys(parse(l4.stdout)).sort(), ['mmproj.gguf', 'model.gguf']);
    assert.match(l4.stdout, /^ {2}tensors\.mmproj\/\s+\d+ files$/m);
    const ml = run(CONVERT, ['--check', path.join(FIXTURES, 'mllama-tiny')]);
    assert.equal(ml.status, 0, ml.stderr);
    assert.match(ml.stdout, /^notice\s+mllama: no upstream llama\.cpp runtime/m);
    const ol = run(CONVERT, ['--check', '-o', 'profile=ollama', FX]);
    assert.match(ol.stdout, /^profile\s+ollama$/m);
    assert.notEqual(parse(ol.stdout)['model.gguf'].size, undefined);
  });

  test('an invalid directory: one line naming the problem, exit 1', () => {
    const r = run(CONVERT, ['--check', path.join(FIXTURES, 'lora-bad-rank'), '-o', `base=${FX}`]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^gguffs-convert: .*adapter_model\.safetensors/);
    const missing = run(CONVERT, ['--check', path.join(TMP, 'nope')]);
    assert.equal(missing.status, 1);
    assert.equal(run(CONVERT, ['--check']).status, 2, 'usage error');
  });
});

// ------------------------------------------------------------ hub ids ----

// A hub cache holding FX as models--org--name: blobs named by sha256,
// snapshots/<commit>/<file> -> ../../blobs/<sha256>, refs/main and refs/v1.
function makeHub(root) {
  const repo = path.join(root, 'models--org--name');
  const commit = 'a'.repeat(40), commit2 = 'b'.repeat(40);
  fs.mkdirSync(path.join(repo, 'blobs'), { recursive: true });
  fs.mkdirSync(path.join(repo, 'refs'));
  for (const c of [commit, commit2]) {
    const snap = path.join(repo, 'snapshots', c);
    fs.mkdirSync(snap, { recursive: true });
    for (const f of fs.readdirSync(FX)) {
      if (f.startsWith('.')) continue;
      const buf = fs.readFileSync(path.join(FX, f));
      const blob = sha256(buf);
      const bp = path.join(repo, 'blobs', blob);
      if (!fs.existsSync(bp)) fs.writeFileSync(bp, buf);
      fs.symlinkSync(path.join('..', '..', 'blobs', blob), path.join(snap, f));
    }
  }
  fs.writeFileSync(path.join(repo, 'refs', 'main'), commit);
  fs.writeFileSync(path.join(repo, 'refs', 'v1'), commit2 + '\n');
  return { repo, commit, commit2 };
}

describe('models by hub id (local hub cache only)', () => {
  // A hub model is named after its repository (naming.h): its bytes are
  // those of the same files in a directory called "name".
  let hub, cache, env, HUB_SHA;
  before(() => {
    cache = fs.mkdtempSync(path.join(TMP, 'hub-'));
    hub = makeHub(cache);
    env = { ...process.env, HF_HUB_CACHE: cache };
    const named = path.join(fs.mkdtempSync(path.join(TMP, 'named-')), 'name');
    fs.cpSync(FX, named, { recursive: true });
    const out = path.join(TMP, 'named.gguf');
    assert.equal(run(CONVERT, [named, out]).status, 0);
    HUB_SHA = sha256File(out);
    assert.notEqual(HUB_SHA, REF_SHA, 'the name is in the llamacpp header');
  });

  test('gguffs-convert org/name, org/name@REV, @commit and models--org--name give the bytes of the directory named after the repository', () => {
    for (const spec of ['org/name', 'org/name@main', 'org/name@v1', `org/name@${hub.commit}`, hub.repo, `${hub.repo}@v1`]) {
      const r = convertBytes([spec, '-'], { env });
      assert.equal(r.status, 0, `${spec}: ${r.stderr}`);
      assert.equal(sha256(r.stdout), HUB_SHA, spec);
    }
    const c = run(CONVERT, ['--check', 'org/name@v1'], { env });
    assert.match(c.stdout, new RegExp(`^hub\\s+org/name, revision v1, commit ${hub.commit2}$`, 'm'));
    assert.match(c.stdout, new RegExp(`^source\\s+${hub.repo}/snapshots/${hub.commit2}$`, 'm'));
  });

  test('HF_HOME/hub and XDG_CACHE_HOME/huggingface/hub are where the cache is looked for', () => {
    const home = fs.mkdtempSync(path.join(TMP, 'hfhome-'));
    fs.symlinkSync(cache, path.join(home, 'hub'));
    const base = { ...process.env };
    delete base.HF_HUB_CACHE; delete base.HUGGINGFACE_HUB_CACHE;
    const r = convertBytes(['org/name', '-'], { env: { ...base, HF_HOME: home } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sha256(r.stdout), HUB_SHA);
    const xdg = fs.mkdtempSync(path.join(TMP, 'xdg-'));
    fs.mkdirSync(path.join(xdg, 'huggingface'));
    fs.symlinkSync(cache, path.join(xdg, 'huggingface', 'hub'));
    delete base.HF_HOME;
    const x = convertBytes(['org/name', '-'], { env: { ...base, XDG_CACHE_HOME: xdg } });
    assert.equal(x.status, 0, x.stderr);
    assert.equal(sha256(x.stdout), HUB_SHA);
  });

  test('gguffs org/name MNT mounts the snapshot', async () => {
    const saved = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = cache;
    try {
      const m = await mountGguffs(TMP, 'org/name@v1');
      try {
        assert.equal(sha256File(m.path), HUB_SHA);
        const meta = JSON.parse(fs.readFileSync(path.join(m.mnt, 'metadata.json'), 'utf8'));
        assert.equal(meta.source_dir, path.join(hub.repo, 'snapshots', hub.commit2));
      } finally { await unmountGguffs(m); }
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_CACHE; else process.env.HF_HUB_CACHE = saved;
    }
  });

  test('not in the cache: the path looked at and how to download it; nothing created', () => {
    const before = fs.readdirSync(cache);
    for (const [bin, args] of [[CONVERT, ['other/model', path.join(TMP, 'x.gguf')]], [CONVERT, ['--check', 'other/model@v2']],
      [GGUFFS, ['-f', 'other/model', TMP]]]) {
      const r = run(bin, args, { env });
      assert.equal(r.status, 1, r.stderr);
      const line = r.stderr.trim();
      assert.equal(line.split('\n').length, 1, line);
      assert.ok(line.includes(path.join(cache, 'models--other--model')), line);
      assert.match(line, /huggingface-cli download other\/model/);
    }
    const rev = run(CONVERT, ['--check', 'org/name@nope'], { env });
    assert.equal(rev.status, 1);
    assert.ok(rev.stderr.includes(path.join(hub.repo, 'refs', 'nope')), rev.stderr);
    assert.match(rev.stderr, /huggingface-cli download org\/name --revision nope/);
    assert.deepEqual(fs.readdirSync(cache), before);
    assert.equal(fs.existsSync(path.join(TMP, 'x.gguf')), false);
  });
});
