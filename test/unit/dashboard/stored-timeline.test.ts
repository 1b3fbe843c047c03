import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { recordTimeline } from '../../../src/dashboard/stored-timeline.js';
import type { QueueEventEnvelope } from '../../../src/events/queue-event.js';
import { newTaskRecord } from '../../../src/models/new-record.js';

const at = (s: number) => new Date(Date.UTC(2026, 11, 3, 12, 0, s));

describe("a record's dashboard timeline", () => {
  const record = {
    ...newTaskRecord({ taskName: 'files.process', args: [1] }),
    status: 'failed' as const,
    retryCount: 1,
    createdAt: at(0),
    startedAt: at(10),
    completedAt: at(12),
    error: 'boom',
  };
  const logs = [
    { attempt: 1, at: at(3), level: 'info' as const, message: 'first try' },
    { attempt: 2, at: at(11), level: 'info' as const, message: 'second try' },
  ];

  test('with no event seen by this process, tells the stored steps and log lines in time order', () => {
    const timeline = recordTimeline(record, logs, []);
    assert.deepEqual(
      timeline.map((e) => [e.type, e.attempt, e.message]),
      [
        ['task.enqueued', null, null],
        ['task.log', 1, 'first try'],
        ['task.started', 2, null],
        ['task.log', 2, 'second try'],
        ['task.failed', 2, 'boom'],
      ],
    );
  });

  test("events seen live replace the store's account of the same step; live log events are not doubled", () => {
    const seen = [
      { type: 'task.started', occurredAt: at(10).toISOString(), attempt: 2, message: null },
      { type: 'task.log', occurredAt: at(11).toISOString(), attempt: 2, message: 'second try' },
      { type: 'task.failed', occurredAt: at(12).toISOString(), attempt: 2, message: 'boom: with detail' },
    ] as unknown as QueueEventEnvelope[];
    const timeline = recordTimeline(record, logs, seen);
    assert.deepEqual(
      timeline.map((e) => [e.type, e.message]),
      [
        ['task.enqueued', null],
        ['task.log', 'first try'],
        ['task.started', null],
        ['task.log', 'second try'],
        ['task.failed', 'boom: with detail'],
      ],
    );
  });
});
