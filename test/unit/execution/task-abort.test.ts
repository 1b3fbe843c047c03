import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AbortFanout, TaskAbort } from '../../../src/execution/task-abort.js';

describe('TaskAbort', () => {
  test('a signal read after the abort is already aborted, with the first reason', () => {
    const run = new TaskAbort();
    const first = new Error('timeout');
    run.abort(first);
    run.abort(new Error('later'));
    assert.equal(run.aborted, true);
    assert.equal(run.reason, first);
    assert.equal(run.signal.aborted, true);
    assert.equal(run.signal.reason, first);
  });

  test('a signal read before the abort fires when the run is aborted', () => {
    const run = new TaskAbort();
    const signal = run.signal;
    let heard: unknown;
    signal.addEventListener('abort', () => (heard = signal.reason));
    const reason = new Error('cancelled');
    run.abort(reason);
    assert.equal(heard, reason);
  });

  test('race settles with the work, or rejects at abort even when the work never ends', async () => {
    assert.equal(await new TaskAbort().race(Promise.resolve(7)), 7);
    await assert.rejects(new TaskAbort().race(Promise.reject(new Error('boom'))), /boom/);
    const run = new TaskAbort();
    const never = run.race(new Promise<never>(() => undefined));
    run.abort(new Error('shutdown'));
    await assert.rejects(never, /shutdown/);
    const late = new TaskAbort();
    late.abort(new Error('before'));
    await assert.rejects(late.race(Promise.resolve(1)), /before/);
  });

  test('a task that fails after an abort that came before the race is still handled', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const run = new TaskAbort();
      run.abort(new Error('timeout'));
      let fail!: (error: Error) => void;
      const work = new Promise<never>((_, reject) => (fail = reject));
      await assert.rejects(run.race(work), /timeout/);
      fail(new Error('the task failed later'));
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', record);
    }
  });
});

describe('TaskAbort.onAbort', () => {
  test('calls its listener once, with the first reason, after the aborting call returned', async () => {
    const run = new TaskAbort();
    const heard: unknown[] = [];
    run.onAbort((reason) => heard.push(reason));
    const first = new Error('timeout');
    run.abort(first);
    run.abort(new Error('later'));
    assert.deepEqual(heard, [], 'not inside abort()');
    await Promise.resolve();
    assert.deepEqual(heard, [first]);
  });

  test('a listener added after the abort hears it in a microtask', async () => {
    const run = new TaskAbort();
    const reason = new Error('shutdown');
    run.abort(reason);
    const heard: unknown[] = [];
    run.onAbort((r) => heard.push(r));
    assert.deepEqual(heard, []);
    await Promise.resolve();
    assert.deepEqual(heard, [reason]);
  });

  test('no abort, no call', async () => {
    const run = new TaskAbort();
    let called = false;
    run.onAbort(() => (called = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(called, false);
  });
});

describe('AbortFanout', () => {
  test('one outer abort reaches every follower still following it, and later followers at once', () => {
    const fanout = new AbortFanout();
    const outer = new AbortController();
    const [a, b, gone] = [new TaskAbort(), new TaskAbort(), new TaskAbort()];
    for (const run of [a, b, gone]) fanout.follow(outer.signal, run);
    fanout.unfollow(outer.signal, gone);
    const reason = new Error('stop');
    outer.abort(reason);
    assert.deepEqual([a.reason, b.reason, gone.aborted], [reason, reason, false]);
    const late = new TaskAbort();
    fanout.follow(outer.signal, late);
    assert.equal(late.reason, reason);
  });
});
