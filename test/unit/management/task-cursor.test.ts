import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeTaskCursor, encodeTaskCursor } from '../../../src/management/task-cursor.js';
import { newTaskId } from '../../../src/models/task-id.js';

describe('listTasks cursor', () => {
  test('a position round-trips through its cursor, which is base64url', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8.64e15 }), (createdAt) => {
        const position = { createdAt, id: newTaskId(Math.min(createdAt, 2 ** 48 - 1)) };
        const cursor = encodeTaskCursor(position);
        assert.match(cursor, /^[A-Za-z0-9_-]+$/);
        assert.deepEqual(decodeTaskCursor(cursor), { position });
      }),
    );
  });

  test('anything else is refused with a message that names no internals', () => {
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
    for (const bad of [
      '',
      'not base64!',
      'A'.repeat(401),
      b64('no-colon'),
      b64(':id'),
      b64('-1:id'),
      b64('01:id'),
      b64('1.5:id'),
      b64('99999999999999999:id'),
      b64('1:'),
      b64(`1:${'x'.repeat(256)}`),
      b64('1:a\u0000b'),
      b64('1:a\nb'),
      `${b64('1:abc')}=`,
      Buffer.from([0x31, 0x3a, 0xff, 0xfe]).toString('base64url'),
      12,
      null,
      { createdAt: 1, id: 'x' },
    ]) {
      const decoded = decodeTaskCursor(bad);
      assert.ok('problem' in decoded, `${JSON.stringify(bad)} was accepted`);
      assert.match(decoded.problem, /not a cursor returned by listTasks/);
    }
  });

  test('random strings never decode to something that is not a position', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const decoded = decodeTaskCursor(text);
        if ('position' in decoded) {
          assert.ok(Number.isSafeInteger(decoded.position.createdAt) && decoded.position.createdAt >= 0);
          assert.ok(decoded.position.id.length >= 1 && decoded.position.id.length <= 255);
          assert.equal(encodeTaskCursor(decoded.position), text);
        }
      }),
    );
  });
});
