// Output bytes are pinned: every fixture in every profile converts to the
// sha256 recorded in tests/golden/sha256.txt (see tests/golden/golden.mjs;
// regenerate with `node tests/golden/golden.mjs --update` in the commit that
// changes bytes on purpose).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CASES, caseName, convertCase, readList } from '../golden/golden.mjs';
import { makeTmp, removeTmp } from './harness.mjs';

let tmp, want;

before(() => {
  tmp = makeTmp('gguffs-golden-');
  want = new Map();
  for (const l of readList()) {
    const [fixture, profile, file, sha] = l.split(' ');
    want.set(`${fixture} ${profile} ${file}`, sha);
  }
});

after(() => removeTmp(tmp));

test('every pinned case is still a case', () => {
  const cases = new Set(CASES.flatMap(([f, ps, , tag]) => ps.map(p => `${caseName(f, tag)} ${p}`)));
  for (const k of want.keys()) assert.ok(cases.has(k.split(' ').slice(0, 2).join(' ')), `${k} pinned but not converted`);
});

for (const [fixture, profiles, extra, tag] of CASES) {
  const name = caseName(fixture, tag);
  for (const profile of profiles) {
    test(`${name} profile=${profile}: output sha256 as pinned`, () => {
      const files = convertCase(fixture, profile, extra, tmp);
      const names = new Set(files.map(f => f.file));
      for (const k of want.keys())
        if (k.startsWith(`${name} ${profile} `)) assert.ok(names.has(k.split(' ')[2]), `${k}: not written any more`);
      for (const { file, sha } of files) {
        const key = `${name} ${profile} ${file}`;
        assert.ok(want.has(key), `${key}: not pinned (node tests/golden/golden.mjs --update)`);
        assert.equal(sha, want.get(key), `${key}: bytes changed`);
      }
    });
  }
}

