import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeLogLine,
  encodeLogLine,
  storableLogLine,
  TASK_LOG_LIMITS,
} from '../../../src/management/task-log.js';

describe('persisted log lines', () => {
  test('messages are made storable and cut to the limit, never inside a surrogate pair', () => {
    assert.equal(storableLogLine(1, 'a\u0000b\uD800c', undefined, 'info').message, 'a\uFFFDb\uFFFDc');
    const long = storableLogLine(1, 'x'.repeat(TASK_LOG_LIMITS.messageChars * 2), undefined, 'info').message;
    assert.equal(long.length, TASK_LOG_LIMITS.messageChars);
    assert.ok(long.endsWith('…'));
    const emoji = '😀'.repeat(TASK_LOG_LIMITS.messageChars);
    const cut = storableLogLine(1, emoji, undefined, 'info').message;
    assert.ok(cut.length <= TASK_LOG_LIMITS.messageChars);
    assert.doesNotMatch(cut, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/, 'no lone high surrogate at the cut');
    assert.equal(storableLogLine(1, 42 as never, undefined, 'info').message, '42');
  });

  test('payloads: JSON kept, too large or not JSON replaced, levels checked', () => {
    assert.deepEqual(storableLogLine(1, 'm', { a: [1, 'é'] }, 'debug').payload, { a: [1, 'é'] });
    const big = storableLogLine(1, 'm', { blob: 'x'.repeat(TASK_LOG_LIMITS.payloadChars) }, 'info').payload;
    assert.equal(big?.['truncated'], true);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.deepEqual(storableLogLine(1, 'm', cyclic, 'info').payload, { unserializable: true });
    assert.deepEqual(storableLogLine(1, 'm', { n: 1n } as never, 'info').payload, { unserializable: true });
    assert.equal(storableLogLine(1, 'm', undefined, 'info').payload, undefined);
    assert.equal(storableLogLine(1, 'm', undefined, 'loud' as never).level, 'info');
    assert.equal(storableLogLine(1, 'm', undefined, undefined).level, 'info');
  });

  test('the stored text round-trips; text that is not a line reads as null', () => {
    const line = storableLogLine(3, 'hello', { k: 'v' }, 'warning', new Date(1_700_000_000_000));
    assert.deepEqual(decodeLogLine(encodeLogLine(line)), line);
    for (const bad of ['', 'nope', '{}', '[1,2,3]', '["1",0,"info","m",null]', '[1,0,"info",5,null]'])
      assert.equal(decodeLogLine(bad), null, bad);
  });
});
