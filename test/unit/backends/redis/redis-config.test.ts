import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueConfigurationError, RedisQueueBackend } from '../../../../src/index.js';

describe('Redis backend configuration', () => {
  for (const bad of [0, -5, Number.NaN, Infinity, '1000', 2 ** 31, 1e12]) {
    test(`subscriberPingInterval ${String(bad)} is a typed error naming the option`, () => {
      assert.throws(
        () =>
          new RedisQueueBackend({
            type: 'redis',
            url: 'redis://127.0.0.1:1/0', // never contacted: the constructor rejects first
            subscriberPingInterval: bad as number,
          }),
        (error: unknown) =>
          error instanceof QueueConfigurationError &&
          error.problems.some((p) => p.path === 'queueBackend.subscriberPingInterval'),
      );
    });
  }

  test('a positive subscriberPingInterval is accepted', () => {
    assert.ok(
      new RedisQueueBackend({ type: 'redis', url: 'redis://127.0.0.1:1/0', subscriberPingInterval: 500 }),
    );
  });
});
