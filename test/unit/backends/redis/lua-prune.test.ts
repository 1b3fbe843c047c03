import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pruneLua } from '../../../../src/backends/redis/lua-prune.js';
import { ENQUEUE, script } from '../../../../src/backends/redis/redis-lua.scripts.js';

/** Names of the top-level helpers a Lua text defines. */
const definedIn = (lua: string) =>
  new Set([...lua.matchAll(/^local function ([A-Za-z_][A-Za-z0-9_]*)\(/gm)].map((m) => m[1]!));

describe('pruneLua', () => {
  const prelude = [
    'local p = ARGV[1]',
    '-- used() is named in this comment only',
    'local function leaf(x) return x end',
    'local function used(x)',
    '  -- unused() is named in this comment only',
    '  return leaf(x) .. p',
    'end',
    'local function unused(x)',
    '  return x',
    'end',
    'local function passed(a, b) return a < b end',
  ].join('\n');

  test('keeps the helpers the body reaches, through other helpers and as values, in their order', () => {
    const lean = pruneLua(prelude, 'return used(table.sort(t, passed))');
    assert.deepEqual([...definedIn(lean)], ['leaf', 'used', 'passed']);
    assert.ok(lean.startsWith('local p = ARGV[1]'), lean);
    assert.ok(!lean.includes('unused(x)'), lean);
  });

  test('a helper without its closing line is an error, not a silently shorter script', () => {
    assert.throws(() => pruneLua('local function open(x)\n  return x\n', 'return open(1)'), /open/);
  });

  test('the enqueue script defines every shared helper it calls, and fewer than the common part', () => {
    const all = definedIn(script(''));
    const lean = definedIn(ENQUEUE);
    const code = ENQUEUE.replace(/--.*$/gm, '');
    for (const name of all)
      if (new RegExp(`\\b${name}\\b`).test(code))
        assert.ok(lean.has(name), `${name} is used but not defined`);
    assert.ok(lean.size < all.size - 15, `${lean.size} of ${all.size}`);
  });
});
