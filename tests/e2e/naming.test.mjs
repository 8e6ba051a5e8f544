// Names for model managers: in the llamacpp profile every model file
// carries the general.* naming keys convert_hf_to_gguf.py writes (name,
// basename, finetune, version, size_label, organization, type) and its
// general.file_type (32 for BF16, 1 for F16); the ollama profile keeps
// Ollama's three general keys; every mount also shows each file under the
// conventional name convert_hf_to_gguf.py gives it, as a second link.
//
// The expected values come from llama.cpp's own gguf-py (metadata.py,
// utility.py), taken from the release bundled with node-llama-cpp
// (node_modules/node-llama-cpp/llama/gitRelease.bundle) and run with
// python3 on the same directories (numpy, which those two files do not
// use, is stubbed when absent). Without python3 (and its yaml module)
// those comparisons are skipped, visibly.
//
// Env: GGUFFS_BUILD, GGUFFS_FIXTURES (see harness.mjs).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync, execFileSync } from 'node:child_process';
import { REPO, BUILD, FIXTURES, CONVERT, makeTmp, removeTmp, sha256File, mountGguffs, unmountGguffs } from './harness.mjs';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (r.error) throw r.error;
  return r;
}

const INSPECT = path.join(BUILD, 'gguffs-inspect');
const BUNDLE = path.join(REPO, 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle');
let TMP;
// Decided at load time: a test's skip is fixed when it is declared.
const HAVE_PY = run('sh', ['-c', 'command -v python3 >/dev/null && python3 -c "import yaml" && command -v git >/dev/null']).status === 0 &&
  fs.existsSync(BUNDLE);
const NOPY = HAVE_PY ? false : 'needs python3 with its yaml module, git and the node-llama-cpp bundle (tools/install-deps.sh)';
let PYDIR = null;

// The directories named as model repositories are named (copies of the
// fixtures), with the fixtures' own names too.
const CASES = [
  { fx: 'llama-bf16', name: 'Llama-3.2-1B-Instruct' },
  { fx: 'llama-f16', name: 'Mistral-7B-Instruct-v0.3' },
  { fx: 'llama-f32-tied', name: 'TinyLlama-1.1B-Chat-v1.0' },
  { fx: 'llama-bf16-3shard-rope3', name: 'llama-bf16-3shard-rope3' },
  { fx: 'llama4-tiny', name: 'Llama-4-Scout-17B-16E-Instruct' },
  { fx: 'glm-tiny', name: 'GLM-4.7-Flash' },
  { fx: 'llama-spm', name: 'llama-spm' },
];


function inspect(file) {
  return JSON.parse(execFileSync(INSPECT, ['--json', file], { maxBuffer: 1 << 30 }).toString());
}

const kvOf = info => Object.fromEntries(info.kv.map(k => [k.key, k.value]));

// Ask gguf-py: for a directory and the tensor shapes (numpy order) of an
// output file, what Metadata.load + prepare_metadata + naming_convention
// give. Returns {name, basename, finetune, version, size_label,
// organization, file_name}.
const PY = String.raw`
import json, sys, types
sys.path.insert(0, sys.argv[1])
try:
    import numpy
except ImportError:
    sys.modules['numpy'] = types.SimpleNamespace(ndarray=object)
import importlib.util
pkg = types.ModuleType('gguf'); pkg.__path__ = [sys.argv[1] + '/gguf']; sys.modules['gguf'] = pkg
def load(name):
    spec = importlib.util.spec_from_file_location('gguf.' + name, sys.argv[1] + '/gguf/' + name + '.py')
    mod = importlib.util.module_from_spec(spec); sys.modules['gguf.' + name] = mod; spec.loader.exec_module(mod)
    for k in dir(mod):
        if not k.startswith('_'): setattr(pkg, k, getattr(mod, k))
    return mod
load('constants'); load('utility'); load('metadata')
import gguf
from pathlib import Path
req = json.load(sys.stdin)
out = []
for r in req:
    # gguf_writer.get_total_parameter_count over the written tensors
    total = shared = expert = esum = nexp = 0
    for name, shape in r['tensors']:
        size = 1
        for d in shape: size *= d
        if '_exps.' in name and len(shape) >= 3:
            n = shape[-2 if '.bias' in name else -3]
            expert += size // n; esum += n; nexp += 1
        else:
            shared += size
        total += size
    ecount = esum // nexp if nexp else 0
    d = Path(r['dir'])
    md = gguf.Metadata.load(None, d, None, total)
    # ModelBase.prepare_metadata
    if md.name is None: md.name = d.name
    if md.size_label is None and total > 0:
        md.size_label = gguf.size_label(total, shared, expert, ecount)
    if r['mmproj']:
        fn = 'mmproj-' + gguf.naming_convention(md.name, md.basename, md.finetune, md.version, None, r['type'], None)
    else:
        fn = gguf.naming_convention(md.name, md.basename, md.finetune, md.version, md.size_label, r['type'], None)
    out.append(dict(name=md.name, basename=md.basename, finetune=md.finetune, version=md.version,
                    size_label=md.size_label, organization=md.organization, file_name=fn + '.gguf'))
json.dump(out, sys.stdout)
`;

function python(requests) {
  const r = run('python3', ['-c', PY, PYDIR], { input: JSON.stringify(requests) });
  assert.equal(r.status, 0, `gguf-py: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

before(() => {
  TMP = makeTmp('gguffs-naming-');
  if (HAVE_PY) {
    const git = path.join(TMP, 'llama.git');
    const c = run('git', ['clone', '-q', '--bare', BUNDLE, git]);
    assert.equal(c.status, 0, `git clone ${BUNDLE}: ${c.stderr}`);
    PYDIR = path.join(TMP, 'gguf-py');
    fs.mkdirSync(path.join(PYDIR, 'gguf'), { recursive: true });
    for (const f of ['metadata.py', 'utility.py', 'constants.py'])
      fs.writeFileSync(path.join(PYDIR, 'gguf', f), execFileSync('git', ['--git-dir', git, 'show', `HEAD:gguf-py/gguf/${f}`]));
  }
  for (const c of CASES) {
    c.dir = path.join(TMP, 'models', c.name);
    fs.mkdirSync(c.dir, { recursive: true });
    for (const f of fs.readdirSync(path.join(FIXTURES, c.fx))) fs.copyFileSync(path.join(FIXTURES, c.fx, f), path.join(c.dir, f));
    c.out = {};
    for (const profile of ['llamacpp', 'ollama']) {
      const od = fs.mkdtempSync(path.join(TMP, 'out-'));
      const r = run(CONVERT, ['-o', `profile=${profile}`, c.dir, od]);
      assert.equal(r.status, 0, `${c.name}: ${r.stderr}`);
      c.out[profile] = fs.readdirSync(od).sort().map(f => ({ file: f, path: path.join(od, f), info: inspect(path.join(od, f)) }));
    }
  }
});
after(() => removeTmp(TMP));

// numpy-order shape of a tensor: GGML dims reversed.
const shapes = info => info.tensors.map(t => [t.name, [...t.dims].reverse()]);
const isProjector = info => kvOf(info)['general.architecture'] === 'clip';
const typeOf = info => {
  const t = info.tensors.find(t => t.dims.length >= 2 && t.type !== 'F32');
  return t ? (t.type === 'BF16' ? 'BF16' : 'F16') : 'F32';
};

describe('llamacpp profile: convert_hf_to_gguf.py\'s general.* keys', () => {
  test('general.file_type is 32 for BF16 tensors, 1 for F16; general.type model or mmproj', () => {
    for (const c of CASES) {
      for (const o of c.out.llamacpp) {
        const kv = kvOf(o.info);
        const want = { BF16: 32, F16: 1, F32: 0 }[typeOf(o.info)];
        assert.equal(kv['general.file_type'], want, `${c.name} ${o.file}: file_type`);
        assert.equal(kv['general.type'], isProjector(o.info) ? 'mmproj' : 'model', `${c.name} ${o.file}: type`);
        assert.equal(o.info.kv.find(k => k.key === 'general.file_type').type, 'UINT32');
      }
    }
    // A negative control of the rule itself: BF16 and F16 fixtures differ.
    assert.equal(kvOf(CASES[0].out.llamacpp[0].info)['general.file_type'], 32);
    assert.equal(kvOf(CASES[1].out.llamacpp[0].info)['general.file_type'], 1);
  });

  test('the naming keys are what gguf-py derives for the same directory and tensors', { skip: NOPY }, () => {
    const reqs = [], where = [];
    for (const c of CASES)
      for (const o of c.out.llamacpp) {
        reqs.push({ dir: c.dir, tensors: shapes(o.info), mmproj: isProjector(o.info), type: typeOf(o.info) });
        where.push([c, o]);
      }
    const want = python(reqs);
    for (let i = 0; i < want.length; i++) {
      const [c, o] = where[i], kv = kvOf(o.info);
      for (const k of ['name', 'basename', 'finetune', 'version', 'size_label', 'organization'])
        assert.equal(kv[`general.${k}`], want[i][k] ?? undefined, `${c.name} ${o.file}: general.${k}`);
      for (const t of o.info.kv.filter(k => /^general\.(name|basename|finetune|version|size_label|organization|type)$/.test(k.key)))
        assert.equal(t.type, 'STRING', t.key);
      assert.equal(o.file, want[i].file_name, `${c.name}: the file name in a directory OUT`);
    }
  });
});

describe('ollama profile', () => {
  test("keeps Ollama's general keys: architecture, file_type 1, quantization_version", () => {
    for (const c of CASES) {
      const o = c.out.ollama[0];
      const general = o.info.kv.filter(k => k.key.startsWith('general.')).map(k => k.key).sort();
      const extra = general.filter(k => !['general.architecture', 'general.file_type', 'general.quantization_version', 'general.type'].includes(k));
      assert.deepEqual(extra, [], `${c.name}: no naming keys`);
      assert.equal(kvOf(o.info)['general.file_type'], 1);
    }
  });
});

describe('the mount shows the conventional file name', () => {
  test('a second link to model.gguf (and mmproj.gguf): same inode, two links, same bytes', async () => {
    for (const c of [CASES[0], CASES[4]]) {
      const m = await mountGguffs(TMP, c.dir);
      try {
        const names = fs.readdirSync(m.mnt).sort();
        for (const o of c.out.llamacpp) {
          assert.ok(names.includes(o.file), `${c.name}: ${o.file} in ${names.join(' ')}`);
          const plain = isProjector(o.info) ? 'mmproj.gguf' : 'model.gguf';
          const a = fs.statSync(path.join(m.mnt, plain)), b = fs.statSync(path.join(m.mnt, o.file));
          assert.equal(a.ino, b.ino, 'same inode');
          assert.equal(a.nlink, 2);
          assert.equal(b.nlink, 2);
          assert.equal(sha256File(path.join(m.mnt, o.file)), sha256File(o.path));
        }
      } finally { await unmountGguffs(m); }
    }
  });

  test('a model from the hub cache is named after its repository, not its snapshot', async () => {
    const hub = path.join(TMP, 'hub'), commit = 'c'.repeat(40);
    const repo = path.join(hub, 'models--meta-llama--Llama-3.2-1B-Instruct');
    fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
    fs.cpSync(CASES[0].dir, path.join(repo, 'snapshots', commit), { recursive: true });
    fs.writeFileSync(path.join(repo, 'refs', 'main'), commit);
    const saved = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = hub;
    try {
      const m = await mountGguffs(TMP, 'meta-llama/Llama-3.2-1B-Instruct');
      try {
        assert.ok(fs.readdirSync(m.mnt).includes(CASES[0].out.llamacpp[0].file), fs.readdirSync(m.mnt).join(' '));
        const kv = kvOf(inspect(m.path));
        assert.equal(kv['general.name'], kvOf(CASES[0].out.llamacpp[0].info)['general.name']);
      } finally { await unmountGguffs(m); }
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_CACHE; else process.env.HF_HUB_CACHE = saved;
    }
  });
});
