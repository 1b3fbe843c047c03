import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TaskSerializationError } from '../../../src/errors/task-serialization.error.js';
import { assertJsonSerializable } from '../../../src/serialization/assert-json.js';

const pathOf = (value: unknown): string => {
  try {
    assertJsonSerializable(value, 'args', 'demo');
  } catch (error) {
    assert.ok(error instanceof TaskSerializationError);
    assert.equal(error.taskName, 'demo');
    return error.path;
  }
  return 'accepted';
};

describe('assertJsonSerializable', () => {
  test('accepts JSON values, unicode, nesting and null-prototype objects', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare['x'] = 1;
    for (const value of [
      [],
      [1, 'two', true, null],
      { a: { b: [{ c: 'ü😀' }] } },
      bare,
      [0, -0, -1.5, 1e300],
    ]) {
      assert.equal(pathOf(value), 'accepted');
    }
  });

  test('rejects values that do not round-trip, naming the path', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['me'] = cyclic;
    class Point {
      x = 1;
    }
    const cases: Array<[unknown, string]> = [
      [[1n], 'args[0]'],
      [[{ f: () => 1 }], 'args[0].f'],
      [[{ when: new Date() }], 'args[0].when'],
      [[undefined], 'args[0]'],
      [[{ a: undefined }], 'args[0].a'],
      [[Number.NaN], 'args[0]'],
      [[Infinity], 'args[0]'],
      [[new Point()], 'args[0]'],
      [[new Map()], 'args[0]'],
      [cyclic, 'args.me'],
      [[{ 'odd key': Symbol('s') }], 'args[0]["odd key"]'],
      [[{ [Symbol('k')]: 1 }], 'args[0]'],
    ];
    for (const [value, path] of cases) assert.equal(pathOf(value), path, JSON.stringify(path));
  });

  test('a shared (non-cyclic) reference is fine', () => {
    const shared = { n: 1 };
    assert.equal(pathOf([shared, shared]), 'accepted');
  });

  test('nesting: 256 levels pass, deeper ones (even 10,000) give a TaskSerializationError, never a RangeError', () => {
    const nest = (depth: number, wrap: (inner: unknown) => unknown): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < depth; i++) value = wrap(value);
      return value;
    };
    assert.equal(pathOf(nest(256, (inner) => [inner])), 'accepted');
    assert.equal(pathOf(nest(256, (inner) => ({ a: inner }))), 'accepted');
    for (const value of [nest(257, (inner) => [inner]), nest(10_000, (inner) => [inner])]) {
      assert.throws(
        () => assertJsonSerializable(value, 'args', 'demo'),
        (error: unknown) =>
          error instanceof TaskSerializationError && /nested more than 256 levels deep/.test(error.message),
      );
    }
    assert.throws(
      () => assertJsonSerializable([nest(10_000, (inner) => ({ a: inner }))], 'args', 'demo'),
      TaskSerializationError,
    );
  });

  test('returns an upper bound of the UTF-8 bytes of JSON.stringify (the enqueue size check stringifies only above it)', () => {
    const values: unknown[] = [
      null,
      true,
      '',
      'plain',
      'ü😀\u0001\n"\\',
      '\ud800 lone surrogate',
      -1.2345678901234567e-308,
      Number.MIN_SAFE_INTEGER,
      [],
      {},
      [{}],
      { 'odd key': ['ü', 1, false, null, { a: { b: [1.5e300, '\u001f'] } }] },
      Array.from({ length: 100 }, (_, i) => ({ ['k' + i]: 'v'.repeat(i) })),
    ];
    for (const value of values) {
      const bound = assertJsonSerializable(value, 'args');
      const bytes = Buffer.byteLength(JSON.stringify(value));
      assert.ok(bound >= bytes, `${JSON.stringify(value).slice(0, 40)}: bound ${bound} < ${bytes}`);
      assert.ok(
        bound <= 6 * bytes + 30,
        `${JSON.stringify(value).slice(0, 40)}: bound ${bound} far above ${bytes}`,
      );
    }
  });
});
