import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DueTimeHints, MAX_DUE_TIME_HINTS } from '../../../src/workers/due-time-hints.js';

describe('DueTimeHints', () => {
  test('keeps every future hint in order: a later hint is not lost behind an earlier one', () => {
    const hints = new DueTimeHints();
    hints.hint(new Date(1_100));
    hints.hint(new Date(4_000));
    hints.hint(new Date(2_000));
    assert.equal(hints.next(1_000), 1_100);
    // A claim that started at 1,100 saw the first: the next one is armed.
    assert.equal(hints.next(1_100), 2_000);
    assert.equal(hints.next(2_500), 4_000);
    assert.equal(hints.next(4_000), undefined);
  });

  test('a time that passed after the last claim started is kept, so the worker claims again at once', () => {
    const hints = new DueTimeHints();
    hints.hint(new Date(1_005));
    // The claim started at 1,000 and returned at 1,010: the record due at 1,005 was not visible to it.
    assert.equal(hints.next(1_000), 1_005);
    assert.equal(hints.next(1_010), undefined);
  });

  test('wakes the worker only for a new earliest time', () => {
    const hints = new DueTimeHints();
    let wakes = 0;
    hints.onEarlier(() => wakes++);
    hints.hint(new Date(5_000));
    hints.hint(new Date(6_000));
    hints.hint(new Date(5_000));
    assert.equal(wakes, 1);
    hints.hint(new Date(4_000));
    assert.equal(wakes, 2);
    hints.hint(null);
    hints.hint(new Date(Number.NaN));
    assert.equal(wakes, 2);
  });

  test(`holds at most ${MAX_DUE_TIME_HINTS} times, dropping the latest`, () => {
    const hints = new DueTimeHints();
    for (let i = MAX_DUE_TIME_HINTS + 10; i > 0; i--) hints.hint(new Date(i * 10));
    let count = 0;
    let last = 0;
    for (let at = hints.next(0); at !== undefined; at = hints.next(at)) {
      assert.ok(at > last);
      last = at;
      count++;
    }
    assert.equal(count, MAX_DUE_TIME_HINTS);
    assert.equal(last, MAX_DUE_TIME_HINTS * 10);
  });
});
