import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { within } from '../../../src/timing/within.js';

const timeouts = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('within', () => {
  test('gives the work’s value when it settles first, and leaves no timer behind', async () => {
    const before = timeouts();
    assert.equal(await within(Promise.resolve('done'), 60_000, 'late'), 'done');
    assert.equal(timeouts(), before, 'the 60 s timer was cleared');
  });

  test('gives the fallback once the time has passed, and the work goes on unobserved', async () => {
    const started = Date.now();
    assert.equal(await within(sleep(5_000, 'done'), 30, 'late'), 'late');
    assert.ok(Date.now() - started < 1_000);
  });

  test('a rejection of the work passes through', async () => {
    await assert.rejects(within(Promise.reject(new Error('boom')), 1_000, 'late'), /boom/);
  });
});
