import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRuntimeScheduleEntry, firstSlot, nextSlot } from '../../../src/schedules/schedule-entry.js';
import type { StoredScheduleDefinition } from '../../../src/schedules/schedule-definition.js';
import { resolveTaskOptions, type TaskDefinition } from '../../../src/tasks/task-definition.js';

const task: TaskDefinition = {
  name: 'reports.tenant',
  options: resolveTaskOptions({ queue: 'reports' }),
  schedules: [],
  owner: 'Reports.tenant',
  injectedParams: [],
  handler: () => undefined,
};

const savedAt = '2026-05-01T10:00:00.000Z';
function runtime(overrides: Partial<StoredScheduleDefinition>) {
  return createRuntimeScheduleEntry(task, {
    key: 'tenant.1',
    task: task.name,
    cron: null,
    interval: null,
    timezone: 'UTC',
    initialDelay: 0,
    jitter: 0,
    maxInstances: 1,
    args: [],
    revision: 1,
    createdAt: new Date(savedAt),
    updatedAt: new Date(savedAt),
    ...overrides,
  });
}
const at = (iso: string) => new Date(iso);

describe('runtime schedule slots count from the latest save', () => {
  test('interval: the upsert takes slot 0 (the save + initialDelay); a restore takes the next slot of the lattice', () => {
    const entry = runtime({ interval: 60_000, initialDelay: 5_000 });
    assert.equal(entry.key, 'schedule:tenant.1');
    assert.equal(entry.source, 'runtime');
    // Just after the save: slot 0 is ahead, for the upsert and for a restore alike.
    assert.equal(firstSlot(entry, at('2026-05-01T10:00:01Z')).toISOString(), '2026-05-01T10:00:05.000Z');
    // Slot 0 has passed: the upsert still takes it (due at once); a restore never replays it.
    assert.equal(
      firstSlot(entry, at('2026-05-01T10:00:06Z'), true).toISOString(),
      '2026-05-01T10:00:05.000Z',
    );
    assert.equal(firstSlot(entry, at('2026-05-01T10:00:06Z')).toISOString(), '2026-05-01T10:01:05.000Z');
    // Much later, every process restoring at any moment of one period picks the same slot.
    for (const now of ['2026-05-01T12:30:05.001Z', '2026-05-01T12:30:30Z', '2026-05-01T12:31:04.999Z'])
      assert.equal(firstSlot(entry, at(now)).toISOString(), '2026-05-01T12:31:05.000Z');
    // The chain from a slot lands on the same lattice.
    assert.equal(
      nextSlot(entry, at('2026-05-01T12:31:05.200Z'), at('2026-05-01T12:31:05Z')).toISOString(),
      '2026-05-01T12:32:05.000Z',
    );
  });

  test('cron: the first match at least initialDelay after the save, in the zone', () => {
    const entry = runtime({ cron: '30 6 * * *', timezone: 'Europe/London', initialDelay: 3_600_000 * 24 });
    // Saved 10:00 UTC on May 1 with a day's delay: the first match after May 2 10:00 UTC is May 3 06:30 BST.
    assert.equal(firstSlot(entry, at('2026-05-01T10:00:01Z')).toISOString(), '2026-05-03T05:30:00.000Z');
    // Past the delay, the next match after now.
    assert.equal(firstSlot(entry, at('2026-06-10T12:00:00Z')).toISOString(), '2026-06-11T05:30:00.000Z');
  });

  test('a stored definition that is not valid is refused with the key in the title', () => {
    assert.throws(() => runtime({ interval: 3 }), /Invalid schedule "tenant\.1".*interval/);
    assert.throws(() => runtime({ cron: '0 0 * * * *' }), /Invalid schedule "tenant\.1".*cron/);
  });

  test('a changed definition changes the hash; the same one keeps it whatever its revision', () => {
    const a = runtime({ interval: 60_000 });
    assert.equal(runtime({ interval: 60_000, revision: 9 }).hash, a.hash);
    assert.notEqual(runtime({ interval: 60_000, args: ['x'] }).hash, a.hash);
    assert.notEqual(runtime({ interval: 61_000 }).hash, a.hash);
  });
});
