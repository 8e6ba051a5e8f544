// System integration: `meson install` installs the commands, man pages and
// systemd unit examples; the debian/ directory builds a .deb with
// `dpkg-buildpackage -us -uc -b`, which installs (apt-get), renders
// `man gguffs`, mounts through mount(8) and mount.fuse3 from a test fstab
// (`mount -T`), runs the systemd unit example's mount command, and is
// purged again at the end.
//
// The package tests need root (as CI runs): without it they are reported
// as skipped. They hold /run/lock/gguffs-package-test.lock for their
// whole run, so two suites on one machine never install or remove the
// package under each other. A package left installed by an interrupted
// run is simply reinstalled and purged.
//
// Env: GGUFFS_BUILD, GGUFFS_FIXTURES (see harness.mjs).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { REPO, BUILD, FIXTURES, makeTmp, removeTmp, sha256File } from './harness.mjs';

const ROOT = process.getuid() === 0;
const SKIP = ROOT ? false : 'needs root (installs a package, mounts through mount(8))';
const LOCK = '/run/lock/gguffs-package-test.lock';
const FX = path.join(FIXTURES, 'llama-bf16');
const VERSION = /version\s*:\s*'([^']+)'/.exec(fs.readFileSync(path.join(REPO, 'meson.build'), 'utf8'))[1];
const PAGES = ['gguffs', 'gguffs-convert', 'gguffs-inspect'];
const EXAMPLES = ['mnt-llama.mount', 'mnt-llama.automount'];
let TMP;

const sleep = ms => new Promise(r => setTimeout(r, ms));

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 600000, ...opts });
  if (r.error) throw r.error;
  return r;
}

function ok(cmd, args, opts) {
  const r = sh(cmd, args, opts);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r;
}

function mountSource(mnt) {
  const r = sh('findmnt', ['-n', '-o', 'SOURCE,FSTYPE,OPTIONS', mnt]);
  return r.status === 0 ? r.stdout.trim().split(/\s+/) : null;
}

// PIDs whose command line names mnt (the daemon serving it).
function daemonsOf(mnt) {
  const pids = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const args = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (args.includes(mnt) && path.basename(args[0]) === 'gguffs') pids.push(Number(p));
    } catch { /* gone */ }
  }
  return pids;
}

async function waitGone(pids) {
  for (const t0 = Date.now(); pids.some(p => fs.existsSync(`/proc/${p}`)); await sleep(20))
    if (Date.now() - t0 > 10000) return false;
  return true;
}

before(() => { TMP = makeTmp('gguffs-system-'); });
after(() => removeTmp(TMP));

describe('meson install', () => {
  test('installs the three commands, their man pages and the unit examples', () => {
    const dest = path.join(TMP, 'dest');
    ok('meson', ['install', '-C', BUILD, '--no-rebuild', '--destdir', dest]);
    const prefix = sh('meson', ['introspect', BUILD, '--buildoptions']);
    const opts = JSON.parse(prefix.stdout);
    const get = n => opts.find(o => o.name === n).value;
    const root = path.join(dest, get('prefix'));
    for (const p of PAGES) {
      const bin = path.join(root, get('bindir'), p);
      assert.ok(fs.statSync(bin).mode & 0o111, `${bin} executable`);
      const v = ok(bin, ['--version']);
      assert.match(v.stdout, new RegExp(`${p}( version)? ${VERSION.replace(/\./g, '\\.')}`));
      const man = path.join(root, get('mandir'), 'man1', `${p}.1`);
      const text = fs.readFileSync(man, 'utf8');
      assert.ok(text.includes(`"gguffs ${VERSION}"`), `${man}: version filled in`);
      assert.doesNotMatch(text, /@VERSION@/);
      const r = ok('man', ['--warnings', '-l', man], { env: { ...process.env, MANWIDTH: '80' } });
      assert.equal(r.stderr, '', `${man}: groff warnings`);
      for (const sec of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXIT STATUS', 'EXAMPLES', 'SEE ALSO'])
        assert.match(r.stdout, new RegExp(`^${sec}$`, 'm'), `${p}(1) has ${sec}`);
    }
    for (const e of EXAMPLES)
      assert.ok(fs.existsSync(path.join(root, get('datadir'), 'doc', 'gguffs', 'examples', e)), e);
  });

  test('gguffs(1) documents fstab, systemd, the environment, files and signals', () => {
    const r = ok('man', ['-l', path.join(BUILD, 'gguffs.1')], { env: { ...process.env, MANWIDTH: '200' } });
    for (const sec of ['FSTAB', 'SYSTEMD', 'ENVIRONMENT', 'FILES', 'SIGNALS', 'LOGGING', 'FILES IN THE MOUNT'])
      assert.match(r.stdout, new RegExp(`^${sec}$`, 'm'), sec);
    assert.match(r.stdout, /fuse\.gguffs +ro,noauto,profile=/);
    for (const v of ['HF_HUB_CACHE', 'HF_HOME', 'GGUFFS_CACHE_DIR', 'SIGTERM']) assert.ok(r.stdout.includes(v), v);
    // The unit examples are the ones shipped in tools/systemd.
    for (const e of EXAMPLES) {
      const unit = fs.readFileSync(path.join(REPO, 'tools', 'systemd', e), 'utf8').split('\n').filter(l => l && !l.startsWith('#'));
      for (const l of unit) assert.ok(r.stdout.includes(l.trim()), `${e} line in gguffs(1): ${l}`);
    }
  });

  test('the systemd unit examples verify (and a misnamed copy does not)', { skip: sh('sh', ['-c', 'command -v systemd-analyze']).status ? 'no systemd-analyze' : false }, () => {
    const dir = fs.mkdtempSync(path.join(TMP, 'units-'));
    for (const e of EXAMPLES) {
      const text = fs.readFileSync(path.join(REPO, 'tools', 'systemd', e), 'utf8').replace(/^What=.*$/m, `What=${FX}`);
      fs.writeFileSync(path.join(dir, e), text);
    }
    ok('systemd-analyze', ['verify', ...EXAMPLES.map(e => path.join(dir, e))]);
    fs.copyFileSync(path.join(dir, EXAMPLES[0]), path.join(dir, 'mnt-other.mount'));
    assert.notEqual(sh('systemd-analyze', ['verify', path.join(dir, 'mnt-other.mount')]).status, 0, 'negative control');
  });
});

describe('the Debian package', () => {
  let lock, deb;
  before(async () => {
    if (SKIP) return;
    // Hold the lock through a child process until after() releases it.
    lock = spawn('flock', ['-w', '900', LOCK, 'sh', '-c', 'echo locked; read x'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((res, rej) => {
      lock.stdout.once('data', res);
      lock.once('exit', c => rej(new Error(`flock ${LOCK} exited ${c}`)));
    });
  });
  after(() => {
    if (SKIP) return;
    sh('apt-get', ['purge', '-y', '-q', '-o', 'DPkg::Lock::Timeout=300', 'gguffs']);
    lock.stdin.end();
  });

  test('dpkg-buildpackage -us -uc -b builds it from a copy of the tree', { skip: SKIP }, () => {
    const src = path.join(TMP, `gguffs-${VERSION}`);
    fs.mkdirSync(src);
    const files = sh('git', ['-C', REPO, 'ls-files', '-co', '--exclude-standard']);
    const list = files.status === 0
      ? files.stdout.split('\n').filter(f => f && !f.startsWith('tests/fixtures/out/') && fs.existsSync(path.join(REPO, f)))
      : null;
    if (list) {
      fs.writeFileSync(path.join(TMP, 'files'), list.join('\n'));
      ok('sh', ['-c', `tar -C "${REPO}" -cf - -T "${TMP}/files" | tar -C "${src}" -xf -`]);
    } else {
      ok('sh', ['-c', `tar -C "${REPO}" --exclude=./build\\* --exclude=./node_modules --exclude=./tests/fixtures/out -cf - . | tar -C "${src}" -xf -`]);
    }
    ok('dpkg-buildpackage', ['-us', '-uc', '-b'], { cwd: src, env: { ...process.env, DEB_BUILD_OPTIONS: 'parallel=2' } });
    deb = path.join(TMP, `gguffs_${VERSION}_${sh('dpkg', ['--print-architecture']).stdout.trim()}.deb`);
    assert.ok(fs.existsSync(deb), deb);
    const c = ok('dpkg-deb', ['-c', deb]).stdout;
    for (const f of ['./usr/bin/gguffs', './usr/bin/gguffs-convert', './usr/bin/gguffs-inspect',
      ...PAGES.map(p => `./usr/share/man/man1/${p}.1.gz`), ...EXAMPLES.map(e => `./usr/share/doc/gguffs/examples/${e}`)])
      assert.ok(c.split('\n').some(l => l.endsWith(' ' + f)), `${f} in the package`);
    assert.match(ok('dpkg-deb', ['-f', deb, 'Depends']).stdout, /fuse3/);
  });

  test('it installs; man gguffs renders; the commands run', { skip: SKIP }, () => {
    assert.ok(deb, 'built');
    ok('apt-get', ['install', '-y', '-q', '--reinstall', '-o', 'DPkg::Lock::Timeout=300', deb]);
    for (const p of PAGES) {
      assert.equal(ok('man', ['-w', p]).stdout.trim(), `/usr/share/man/man1/${p}.1.gz`);
      const r = ok('man', [p], { env: { ...process.env, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' } });
      assert.match(r.stdout, /^NAME$/m);
      assert.match(r.stdout, new RegExp(`^ +${p} \\\\?- `, 'm'));
      assert.equal(sh('man', ['--warnings', p], { env: { ...process.env, MANPAGER: 'cat' } }).stderr, '', `${p}: warnings`);
      assert.match(ok(`/usr/bin/${p}`, ['--version']).stdout, new RegExp(VERSION.replace(/\./g, '\\.')));
    }
  });

  test('an fstab line mounts with mount -T through mount.fuse3, and umount unmounts', { skip: SKIP }, async () => {
    const mnt = fs.mkdtempSync(path.join(TMP, 'mnt-'));
    const fstab = path.join(TMP, 'fstab');
    fs.writeFileSync(fstab, `# test fstab\n${FX} ${mnt} fuse.gguffs ro,noauto,profile=ollama,cache_size=8M 0 0\n`);
    ok('mount', ['-T', fstab, mnt]);
    let pids = [];
    try {
      const [src, type, opts] = mountSource(mnt) || [];
      assert.equal(src, FX, 'source');
      assert.equal(type, 'fuse.gguffs');
      assert.match(opts, /(^|,)ro(,|$)/);
      pids = daemonsOf(mnt);
      assert.equal(pids.length, 1, 'one daemon');
      assert.equal(fs.readlinkSync(`/proc/${pids[0]}/exe`), '/usr/bin/gguffs', 'the installed binary serves it');
      const ref = path.join(TMP, 'ref-ollama.gguf');
      ok('/usr/bin/gguffs-convert', ['-o', 'profile=ollama', FX, ref]);
      assert.equal(sha256File(path.join(mnt, 'model.gguf')), sha256File(ref), 'profile=ollama reached the daemon');
      const st = JSON.parse(fs.readFileSync(path.join(mnt, 'stats.json'), 'utf8'));
      assert.equal(st.cache.budget, 8 << 20, 'cache_size=8M reached the daemon');
      // mount(8) again: the second gguffs refuses to stack.
      const again = sh('mount', ['-T', fstab, mnt]);
      assert.notEqual(again.status, 0);
      assert.match(again.stderr, /already mounted/);
    } finally {
      const u = sh('umount', [mnt]);
      assert.equal(u.status, 0, u.stderr);
    }
    assert.equal(mountSource(mnt), null, 'unmounted');
    assert.ok(await waitGone(pids), 'the daemon exited after umount');
    // Without ro, mount(8) passes rw, which gguffs refuses with a message.
    fs.writeFileSync(fstab, `${FX} ${mnt} fuse.gguffs noauto 0 0\n`);
    const rw = sh('mount', ['-T', fstab, mnt]);
    assert.notEqual(rw.status, 0);
    assert.match(rw.stderr, /read-only: -o rw is refused/);
    assert.equal(mountSource(mnt), null);
  });

  test("the systemd mount unit example's mount command works with the installed gguffs", { skip: SKIP }, async () => {
    const unit = fs.readFileSync('/usr/share/doc/gguffs/examples/mnt-llama.mount', 'utf8');
    const field = k => new RegExp(`^${k}=(.*)$`, 'm').exec(unit)[1];
    const mnt = fs.mkdtempSync(path.join(TMP, 'unit-'));
    // What systemd runs for a mount unit: mount -t Type -o Options What Where.
    ok('mount', ['-t', field('Type'), '-o', field('Options'), FX, mnt]);
    let pids = [];
    try {
      assert.deepEqual((mountSource(mnt) || []).slice(0, 2), [FX, 'fuse.gguffs']);
      pids = daemonsOf(mnt);
      const st = JSON.parse(fs.readFileSync(path.join(mnt, 'stats.json'), 'utf8'));
      assert.equal(st.cache.budget, 256 << 20);
      assert.ok(fs.statSync(path.join(mnt, 'model.gguf')).size > 0);
    } finally { ok('umount', [mnt]); }
    assert.ok(await waitGone(pids));
  });

  test('it purges cleanly', { skip: SKIP }, () => {
    ok('apt-get', ['purge', '-y', '-q', '-o', 'DPkg::Lock::Timeout=300', 'gguffs']);
    for (const p of PAGES) assert.equal(fs.existsSync(`/usr/bin/${p}`), false, `/usr/bin/${p} removed`);
    assert.notEqual(sh('man', ['-w', 'gguffs']).status, 0, 'man page removed');
    assert.equal(fs.existsSync('/usr/share/doc/gguffs'), false);
    assert.notEqual(sh('dpkg-query', ['-W', '-f=${Status}', 'gguffs']).stdout, 'install ok installed');
  });
});
