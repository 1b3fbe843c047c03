import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RecentMap, RecentSet } from '../../../src/collections/recent-map.js';

describe('RecentMap', () => {
  test('keeps at least the last capacity/2 entries written and never more than capacity', () => {
    const map = new RecentMap<string, string>(10);
    for (let i = 0; i < 1_000; i++) {
      map.set(`${i}`, `v${i}`);
      assert.ok(map.size <= 10, `size ${map.size} after ${i + 1} writes`);
      for (let back = 0; back < 5 && back <= i; back++) assert.equal(map.get(`${i - back}`), `v${i - back}`);
    }
    assert.equal(map.has('0'), false, 'the oldest entries are gone');
    assert.equal(map.get('0'), undefined);
  });

  test('writing an entry again makes it recent with its new value; delete removes it from both generations', () => {
    const map = new RecentMap<string, number>(4);
    map.set('old', 1);
    map.set('x', 2); // generation full: 'old' and 'x' are now the previous one
    map.set('old', 3); // a new copy in the current generation shadows the old one
    assert.equal(map.get('old'), 3);
    map.set('y', 4); // current full: previous ('x' and the old copy) dropped, 'old' and 'y' kept
    assert.equal(map.get('old'), 3);
    assert.equal(map.has('x'), false);
    assert.equal(map.delete('old'), true);
    assert.equal(map.delete('old'), false);
    assert.equal(map.get('y'), 4);
    assert.equal(map.size, 1);
    map.set('z', 5); // 'y' and 'z' become the previous generation
    map.set('y', 6);
    assert.equal(map.delete('y'), true, 'both copies go');
    assert.equal(map.has('y'), false);
  });

  test('take returns the newest value and forgets every copy of the entry', () => {
    const map = new RecentMap<string, number>(4);
    assert.equal(map.take('none'), undefined);
    map.set('a', 1);
    map.set('b', 2); // 'a' and 'b' are now the previous generation
    assert.equal(map.take('a'), 1, 'found in the previous generation');
    assert.equal(map.has('a'), false);
    map.set('b', 3); // a newer copy shadows the one in the previous generation
    assert.equal(map.take('b'), 3);
    assert.equal(map.has('b'), false, 'the shadowed copy went too');
    assert.equal(map.get('b'), undefined);
    assert.equal(map.size, 0);
  });

  test('a stored undefined is found as present', () => {
    const map = new RecentMap<string, undefined>(4);
    map.set('k', undefined);
    assert.equal(map.has('k'), true);
  });

  test('take of a stored undefined forgets it and does not answer the older copy it shadows', () => {
    const map = new RecentMap<string, number | undefined>(4);
    map.set('k', 1);
    map.set('x', 2); // 'k' and 'x' are now the previous generation
    map.set('k', undefined);
    assert.equal(map.take('k'), undefined);
    assert.equal(map.has('k'), false, 'both copies went');
  });
});

describe('RecentSet', () => {
  test('remembers the recent members within the bound', () => {
    const set = new RecentSet<string>(6);
    for (let i = 0; i < 100; i++) set.add(`m${i}`);
    assert.ok(set.size <= 6);
    for (let i = 97; i < 100; i++) assert.equal(set.has(`m${i}`), true);
    assert.equal(set.has('m0'), false);
    assert.equal(set.delete('m99'), true);
    assert.equal(set.has('m99'), false);
  });
});
