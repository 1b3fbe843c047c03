import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueConfigurationError } from '../../../src/errors/queue-configuration.error.js';
import { createScheduleEntry, nextSlot } from '../../../src/schedules/schedule-entry.js';
import { resolveTaskOptions, type TaskDefinition } from '../../../src/tasks/task-definition.js';
import type { ScheduleOptions } from '../../../src/options/schedule-options.js';

const task = (schedules: ScheduleOptions[] = []): TaskDefinition => ({
  name: 'reports.daily',
  options: resolveTaskOptions({ queue: 'reports', retries: 2 }),
  schedules,
  owner: 'Reports.daily',
  injectedParams: [],
  handler: () => undefined,
});
const entry = (options: ScheduleOptions) => createScheduleEntry(task([options]), options, 0);
const next = (options: ScheduleOptions, after: string, anchor?: string) =>
  nextSlot(entry(options), new Date(after), anchor ? new Date(anchor) : undefined).toISOString();

describe('next run vectors', () => {
  test('plain cron in UTC and named zones', () => {
    assert.equal(next({ cron: '0 2 * * *' }, '2026-05-01T03:00:00Z'), '2026-05-02T02:00:00.000Z');
    assert.equal(
      next({ cron: '0 9 * * MON-FRI', timezone: 'America/New_York' }, '2026-05-01T14:00:00Z'),
      '2026-05-04T13:00:00.000Z',
    );
    assert.equal(
      next({ cron: '@monthly', timezone: 'Europe/London' }, '2026-01-15T00:00:00Z'),
      '2026-02-01T00:00:00.000Z',
    );
  });

  test('February 29 fires only in leap years', () => {
    assert.equal(next({ cron: '0 0 29 2 *' }, '2026-01-01T00:00:00Z'), '2028-02-29T00:00:00.000Z');
    assert.equal(next({ cron: '0 0 29 2 *' }, '2028-02-29T00:00:00Z'), '2032-02-29T00:00:00.000Z');
  });

  test('DST policy: a time in a skipped hour runs at the first valid time after the gap', () => {
    // Europe/London 2026-03-29: 01:00 GMT jumps to 02:00 BST; 01:30 does not exist.
    assert.equal(
      next({ cron: '30 1 * * *', timezone: 'Europe/London' }, '2026-03-29T00:00:00Z'),
      '2026-03-29T01:00:00.000Z',
    );
    // America/New_York 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    assert.equal(
      next({ cron: '30 2 * * *', timezone: 'America/New_York' }, '2026-03-08T05:00:00Z'),
      '2026-03-08T07:00:00.000Z',
    );
  });

  test('DST policy: a fixed time in a repeated hour runs once; wildcard minutes run in both', () => {
    // Europe/London 2026-10-25: 01:30 happens at 00:30Z (BST) and again at 01:30Z (GMT); it runs at the first only.
    assert.equal(
      next({ cron: '30 1 * * *', timezone: 'Europe/London' }, '2026-10-25T00:00:00Z'),
      '2026-10-25T00:30:00.000Z',
    );
    assert.equal(
      next({ cron: '30 1 * * *', timezone: 'Europe/London' }, '2026-10-25T00:31:00Z'),
      '2026-10-26T01:30:00.000Z',
    );
    // America/New_York 2026-11-01: */30 runs at 01:00 and 01:30 EDT, then again at 01:00 and 01:30 EST.
    const e = entry({ cron: '*/30 * * * *', timezone: 'America/New_York' });
    const runs: string[] = [];
    let at = new Date('2026-11-01T04:50:00Z');
    for (let i = 0; i < 4; i++) runs.push((at = nextSlot(e, at)).toISOString());
    assert.deepEqual(runs, [
      '2026-11-01T05:00:00.000Z',
      '2026-11-01T05:30:00.000Z',
      '2026-11-01T06:00:00.000Z',
      '2026-11-01T06:30:00.000Z',
    ]);
  });

  test('intervals are anchored: run time does not drift them and missed slots are skipped', () => {
    const options = { interval: 60_000, initialDelay: 5_000 };
    assert.equal(next(options, '2026-05-01T00:00:00Z'), '2026-05-01T00:00:05.000Z');
    assert.equal(next(options, '2026-05-01T00:00:50Z', '2026-05-01T00:00:05Z'), '2026-05-01T00:01:05.000Z');
    // Ten slots missed: the next is the first future one, not a storm of ten.
    assert.equal(next(options, '2026-05-01T00:10:30Z', '2026-05-01T00:00:05Z'), '2026-05-01T00:11:05.000Z');
  });

  test('bad schedule options are rejected naming task and option', () => {
    const bad: Array<[ScheduleOptions, RegExp]> = [
      [{ cron: '* * * * *', interval: 1000 }, /cron or interval, not both/],
      [{}, /give cron or interval/],
      [{ interval: 0 }, /interval: must be an integer number of ms from 10 /],
      [{ cron: '* * * * *', timezone: 'Mars/Olympus' }, /unknown time zone "Mars\/Olympus"/],
      [{ interval: 1000, jitter: -1 }, /jitter: must be a non-negative/],
      [{ interval: 1000, maxInstances: 0 }, /maxInstances: must be an integer >= 1/],
      [{ interval: 1000, key: 'has space' }, /key/],
    ];
    for (const [options, message] of bad) {
      assert.throws(
        () => entry(options),
        (error: unknown) =>
          error instanceof QueueConfigurationError &&
          message.test(error.message) &&
          error.taskName === 'reports.daily',
      );
    }
  });

  test('edge values: intervals below 10 ms or fractional, and durations past ten years, are refused', () => {
    const bad: Array<[ScheduleOptions, RegExp]> = [
      [{ interval: 0.001 }, /interval: must be an integer number of ms from 10 to 315360000000, got 0.001/],
      [{ interval: 9 }, /interval: must be an integer number of ms from 10 /],
      [{ interval: 10.5 }, /interval: .* got 10.5/],
      [{ interval: 1e16 }, /interval: .* got 10000000000000000/],
      [{ interval: 1000, jitter: 1e308 }, /jitter: must be at most 315360000000 ms, got 1e\+308/],
      [{ interval: 1000, initialDelay: 1e308 }, /initialDelay: must be at most 315360000000 ms/],
      [
        { interval: 1000, initialDelay: Infinity },
        /initialDelay: must be a non-negative number of ms, got Infinity/,
      ],
      [{ cron: '* * * * *', jitter: 1e308 }, /jitter: must be at most/],
    ];
    for (const [options, message] of bad) {
      assert.throws(
        () => entry(options),
        (error: unknown) => error instanceof QueueConfigurationError && message.test(error.message),
        `${JSON.stringify(options)} was accepted or gave another error`,
      );
    }
    assert.equal(entry({ interval: 10 }).options.interval, 10);
    assert.equal(entry({ interval: 1000, jitter: 315_360_000_000 }).options.jitter, 315_360_000_000);
  });

  test('a cron schedule honours initialDelay for its first occurrence only', () => {
    const options = { cron: '*/5 * * * *', initialDelay: 12 * 60_000 };
    // 00:01 + 12 min = 00:13: the first match after it is 00:15, not 00:05.
    assert.equal(next(options, '2026-05-01T00:01:00Z'), '2026-05-01T00:15:00.000Z');
    // Chained occurrences (anchored) follow the cron alone.
    assert.equal(next(options, '2026-05-01T00:15:00Z', '2026-05-01T00:15:00Z'), '2026-05-01T00:20:00.000Z');
    assert.equal(next({ cron: '*/5 * * * *' }, '2026-05-01T00:01:00Z'), '2026-05-01T00:05:00.000Z');
  });
});
