import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { copyRecord } from '../../../src/models/record-copy.js';
import { newTaskRecord } from '../../../src/models/new-record.js';
import { cloneJson } from '../../../src/serialization/clone-json.js';

describe('cloneJson', () => {
  test('copies any JSON value exactly and shares no object with the original', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const copy = cloneJson(value);
        assert.deepStrictEqual(copy, value);
        assert.equal(JSON.stringify(copy), JSON.stringify(value));
        if (value !== null && typeof value === 'object') assert.notEqual(copy, value);
      }),
    );
  });

  test('a "__proto__" key stays an own property and never changes the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "a": [1, {"__proto__": 2}]}') as object;
    const copy = cloneJson(parsed) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(copy), Object.prototype);
    assert.equal((copy as { polluted?: boolean }).polluted, undefined);
    assert.deepEqual(Object.keys(copy), ['__proto__', 'a']);
    assert.equal(JSON.stringify(copy), JSON.stringify(parsed));
  });

  test('copyRecord copies every field and shares no payload or date with the original', () => {
    const record = newTaskRecord({
      taskName: 't',
      args: [{ nested: [1] }],
      kwargs: { k: { v: 'x' } },
      metadata: { m: [true] },
      key: 'k1',
    });
    record.result = { r: [1, 2] };
    record.startedAt = new Date();
    const copy = copyRecord(record);
    assert.deepStrictEqual(copy, record);
    assert.deepEqual(Object.keys(copy).sort(), Object.keys(record).sort());
    (copy.args[0] as { nested: number[] }).nested.push(2);
    (copy.result as { r: number[] }).r.push(3);
    copy.startedAt!.setTime(0);
    copy.queuedAt.setTime(0);
    assert.deepEqual(record.args, [{ nested: [1] }]);
    assert.deepEqual(record.result, { r: [1, 2] });
    assert.notEqual(record.startedAt!.getTime(), 0);
    assert.notEqual(record.queuedAt.getTime(), 0);
  });
});
