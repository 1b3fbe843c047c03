import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setLongTimeout, sleepLong } from '../../../src/timing/long-timeout.js';

describe('setLongTimeout', () => {
  test('a delay longer than one chunk fires once, after the whole delay, through a chain of timers', async () => {
    const started = performance.now();
    const fired: number[] = [];
    setLongTimeout(() => fired.push(performance.now() - started), 90, { chunk: 20 });
    await sleep(60);
    assert.deepEqual(fired, [], 'fired before the delay passed (after one chunk?)');
    await sleep(80);
    assert.equal(fired.length, 1);
    assert.ok(fired[0]! >= 89, `fired after ${fired[0]} ms`);
  });

  test('never fires before its delay, measured on the monotonic clock, whatever the chunk', async () => {
    const early: string[] = [];
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const ms = 3 + (i % 17) + (i % 3) * 0.4;
        const started = performance.now();
        return new Promise<void>((resolve) =>
          setLongTimeout(
            () => {
              const took = performance.now() - started;
              if (took < ms) early.push(`${took.toFixed(3)} < ${ms}`);
              resolve();
            },
            ms,
            { chunk: 1 + (i % 5) },
          ),
        );
      }),
    );
    assert.deepEqual(early, []);
  });

  test('clear() stops the chain at any link', async () => {
    let fired = 0;
    const timer = setLongTimeout(() => fired++, 60, { chunk: 15 });
    await sleep(25);
    timer.clear();
    timer.clear();
    await sleep(70);
    assert.equal(fired, 0);
  });

  test('2^31 ms and more does not fire at once (a bare setTimeout fires after 1 ms)', async () => {
    let fired = 0;
    const timer = setLongTimeout(() => fired++, 2 ** 31 + 1_000);
    const thirtyDays = setLongTimeout(() => fired++, 30 * 24 * 3600 * 1000);
    await sleep(30);
    timer.clear();
    thirtyDays.clear();
    assert.equal(fired, 0);
  });

  test('short delays behave as setTimeout; sleepLong resolves after its delay', async () => {
    const started = performance.now();
    await sleepLong(30, { chunk: 7 });
    assert.ok(performance.now() - started >= 29);
    let fired = 0;
    setLongTimeout(() => fired++, 0);
    await sleep(5);
    assert.equal(fired, 1);
  });
});
