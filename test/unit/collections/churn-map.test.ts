import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChurnMap } from '../../../src/collections/churn-map.js';

describe('ChurnMap', () => {
  test('reads and writes like a Map of string keys', () => {
    const map = new ChurnMap<number>();
    assert.equal(map.size, 0);
    map.set('a', 1).set('b', 2).set('a', 3);
    assert.equal(map.size, 2);
    assert.equal(map.get('a'), 3);
    assert.equal(map.has('b'), true);
    assert.equal(map.has('c'), false);
    assert.equal(map.get('c'), undefined);
    assert.equal(map.delete('a'), true);
    assert.equal(map.delete('a'), false);
    assert.equal(map.size, 1);
    map.set('__proto__', 4).set('toString', 5).set('7', 6);
    assert.equal(map.get('__proto__'), 4, 'no prototype: every name is a plain key');
    assert.equal(map.has('hasOwnProperty'), false);
    assert.deepEqual(
      new Map(map),
      new Map([
        ['7', 6],
        ['b', 2],
        ['__proto__', 4],
        ['toString', 5],
      ]),
    );
  });

  test('take returns the value and deletes its entry, and leaves an entry holding undefined', () => {
    const map = new ChurnMap<number | undefined>();
    map.set('a', 1).set('u', undefined);
    assert.equal(map.take('a'), 1);
    assert.equal(map.has('a'), false);
    assert.equal(map.size, 1);
    assert.equal(map.take('a'), undefined);
    assert.equal(map.size, 1, 'a missing key changes no count');
    assert.equal(map.take('u'), undefined);
    assert.equal(map.has('u'), true, 'an undefined value is told from a missing key by delete');
    assert.equal(map.delete('u'), true);
    assert.equal(map.size, 0);
  });

  test('iteration walks the entries as they were when it began', () => {
    const map = new ChurnMap<string>();
    for (const key of ['x', 'y', 'z']) map.set(key, key.toUpperCase());
    const seen: string[] = [];
    for (const key of map.keys()) {
      map.delete(key);
      map.set(`${key}2`, 'later');
      seen.push(key);
    }
    assert.deepEqual(seen, ['x', 'y', 'z']);
    assert.deepEqual([...map.values()], ['later', 'later', 'later']);
    const visited: Array<[string, string]> = [];
    map.forEach((value, key) => visited.push([key, value]));
    assert.deepEqual(visited, [...map.entries()]);
    assert.deepEqual(visited, [...map]);
  });
});
