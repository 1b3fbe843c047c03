import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_RETRY_DELAY, retryDelay } from '../../../src/execution/retry-backoff.js';

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

describe('retryDelay bounds', () => {
  test('growth without maxDelay is capped at MAX_RETRY_DELAY (ten years), so the retry date stays valid', () => {
    assert.equal(MAX_RETRY_DELAY, 315_360_000_000);
    for (const retryIndex of [43, 60, 1_100, 5_000]) {
      const delay = retryDelay({ initialDelay: 1_000 }, retryIndex);
      assert.equal(delay, MAX_RETRY_DELAY, `retry ${retryIndex}`);
      assert.ok(Number.isFinite(new Date(Date.now() + delay).getTime()));
    }
    assert.equal(
      retryDelay({ initialDelay: 1_000, jitter: MAX_RETRY_DELAY }, 0, () => 1),
      MAX_RETRY_DELAY,
    );
    assert.equal(retryDelay(1e20, 0), MAX_RETRY_DELAY);
  });

  test('an initial delay of 0 stays 0 however far the multiplier grows (no 0 × Infinity = NaN)', () => {
    assert.equal(retryDelay({ initialDelay: 0, multiplier: 10 }, 400), 0);
  });
});
