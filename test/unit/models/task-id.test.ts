import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newTaskId } from '../../../src/models/task-id.js';
import { newTaskRecord } from '../../../src/models/new-record.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newTaskId', () => {
  test('is a UUIDv7 whose first 48 bits are the creation time in milliseconds', () => {
    for (const at of [0, 1, 1_795_000_000_123, 2 ** 48 - 1]) {
      const id = newTaskId(at);
      assert.match(id, V7);
      assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at);
    }
  });

  test('ids of later milliseconds sort after earlier ones; ids of one millisecond differ', () => {
    const t = Date.now();
    const ids = [
      newTaskId(t),
      newTaskId(t),
      newTaskId(t + 1),
      newTaskId(t + 1_000),
      newTaskId(t + 86_400_000),
    ];
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids[1]! < ids[2]! && ids[0]! < ids[2]! && ids[2]! < ids[3]! && ids[3]! < ids[4]!);
  });

  test('ids of one millisecond sort in the order they were made, past 4,096 of them unique still', () => {
    const t = Date.now() + 5_000;
    const ids = Array.from({ length: 1_000 }, () => newTaskId(t));
    assert.deepEqual([...ids].sort(), ids, 'made in order, they sort in order');
    for (const id of ids) assert.match(id, V7);
    const many = Array.from({ length: 10_000 }, () => newTaskId(t + 1));
    for (const id of many) assert.match(id, V7);
    assert.equal(new Set(many).size, many.length);
  });

  test('a new record takes its id from its creation time', () => {
    const now = new Date(Date.UTC(2031, 0, 2));
    const record = newTaskRecord({ taskName: 't' }, now);
    assert.match(record.id, V7);
    assert.equal(parseInt(record.id.slice(0, 8) + record.id.slice(9, 13), 16), now.getTime());
  });
});
