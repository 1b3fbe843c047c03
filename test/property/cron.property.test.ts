import fc from 'fast-check';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueConfigurationError } from '../../src/errors/queue-configuration.error.js';
import { normalizeCron } from '../../src/schedules/cron-expression.js';
import { createScheduleEntry, nextSlot } from '../../src/schedules/schedule-entry.js';
import { resolveTaskOptions, type TaskDefinition } from '../../src/tasks/task-definition.js';

const RUNS = Number(process.env['QUEUES_PROPERTY_RUNS'] ?? 500);
const task: TaskDefinition = {
  name: 'prop.cron',
  options: resolveTaskOptions({}),
  schedules: [],
  owner: 'Prop.cron',
  injectedParams: [],
  handler: () => undefined,
};
const token = fc.oneof(
  fc.constantFrom(
    '*',
    '?',
    'L',
    'W',
    '#',
    '/',
    '-',
    ',',
    'MON',
    'jul',
    'WED',
    '7',
    '0',
    '60',
    '*/0',
    '5/15',
    '1-5',
    '9-2',
  ),
  fc.integer({ min: -5, max: 70 }).map(String),
  fc.string({ maxLength: 4 }),
);
const expression = fc.oneof(
  fc
    .array(
      fc.array(token, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('')),
      { minLength: 1, maxLength: 7 },
    )
    .map((fields) => fields.join(' ')),
  fc.string({ maxLength: 30 }),
  fc.constantFrom('@hourly', '@daily', '@weekly', '@monthly', '@yearly', '@reboot', '@every'),
);

describe('cron strings under arbitrary input (fast-check)', () => {
  test('every string is either accepted (and then fires) or rejected with a QueueConfigurationError naming the task', () => {
    fc.assert(
      fc.property(expression, (cron) => {
        let normalized: string;
        try {
          normalized = normalizeCron(cron, { taskName: 'prop.cron', path: '@Schedule(prop.cron).cron' });
        } catch (error) {
          assert.ok(
            error instanceof QueueConfigurationError,
            `untyped error for ${JSON.stringify(cron)}: ${String(error)}`,
          );
          assert.equal(error.taskName, 'prop.cron');
          return;
        }
        // Accepted expressions must be understood by the next-fire library too, and fire within eight years.
        const entry = createScheduleEntry(task, { cron }, 0);
        const next = nextSlot(entry, new Date('2026-01-01T00:00:00Z'));
        assert.ok(next.getTime() > Date.parse('2026-01-01T00:00:00Z'), `${cron} -> ${normalized}`);
      }),
      { numRuns: RUNS },
    );
  });
});
