import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { retryDelay } from '../../../src/execution/retry-backoff.js';

describe('retryDelay', () => {
  test('no backoff means no delay; a number is a fixed delay', () => {
    assert.equal(retryDelay(undefined, 3), 0);
    assert.equal(retryDelay(250, 0), 250);
    assert.equal(retryDelay(250, 5), 250);
  });

  test('exponential growth with multiplier and cap', () => {
    const backoff = { initialDelay: 100, multiplier: 3, maxDelay: 1_000 };
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => retryDelay(backoff, i)),
      [100, 300, 900, 1_000],
    );
    assert.deepEqual(
      [0, 1, 2].map((i) => retryDelay({ initialDelay: 10 }, i)),
      [10, 20, 40],
    );
  });

  test('jitter adds up to its bound', () => {
    assert.equal(
      retryDelay({ initialDelay: 100, jitter: 50 }, 0, () => 0.5),
      125,
    );
    assert.equal(
      retryDelay({ initialDelay: 100, jitter: 50 }, 0, () => 0),
      100,
    );
  });
});
