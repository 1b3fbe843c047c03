import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { QueuedTaskRecord } from '../../../src/models/queued-task-record.js';
import { RemovedOutcomes } from '../../../src/retention/removed-outcomes.js';

function outcome(overrides: Partial<QueuedTaskRecord> = {}): QueuedTaskRecord {
  const at = (ms: number) => new Date(Date.now() + ms);
  return {
    id: '0193a5b2-7c1d-7000-8000-000000000001',
    taskName: 'reports.render',
    args: [1, 'two', { three: [3, null, true] }],
    kwargs: { format: 'pdf', nested: { deep: [] } },
    queue: 'reports',
    executionBackend: 'local',
    executionProfile: 'cpu',
    executionRef: 'ref-1',
    workerId: 'worker-1',
    status: 'completed',
    priority: -5,
    maxRetries: 3,
    retryCount: 2,
    scheduledAt: null,
    queuedAt: at(-90_000),
    createdAt: new Date(0),
    startedAt: at(-1_000),
    completedAt: at(0),
    heartbeatAt: null,
    result: { pages: 12, ok: true, list: [0.5, 'x'] },
    error: null,
    key: 'report-1',
    metadata: { removeOnComplete: true, flow: { parent: 'p-1', root: 'r-1' } },
    group: 'tenant-a',
    parentId: 'p-1',
    ...overrides,
  };
}

describe('RemovedOutcomes', () => {
  test('gives back every field of a remembered outcome, dates far from now included, as a new copy each time', () => {
    const outcomes = new RemovedOutcomes();
    const record = outcome({ scheduledAt: new Date(Date.UTC(2100, 0, 1)), heartbeatAt: new Date(-1) });
    outcomes.remember(record);
    const first = outcomes.get(record.id)!;
    assert.deepEqual(first, record);
    first.args.push('changed');
    (first.result as Record<string, unknown>)['pages'] = 0;
    first.completedAt!.setTime(0);
    assert.deepEqual(
      outcomes.get(record.id),
      record,
      'a caller changing its copy changes nothing remembered',
    );
  });

  test('what the record is changed into after it was remembered is not remembered', () => {
    const outcomes = new RemovedOutcomes();
    const record = outcome();
    const expected = outcome();
    outcomes.remember(record);
    (record.args[2] as Record<string, unknown>)['three'] = 'mutated';
    (record.result as Record<string, unknown>)['ok'] = false;
    record.metadata['extra'] = 1;
    assert.deepEqual(outcomes.get(record.id), expected);
  });

  test('a failed outcome without a result, -0 and a __proto__ key as a store gives them back; parentId from metadata', () => {
    const outcomes = new RemovedOutcomes();
    const payload = JSON.parse('{"__proto__": {"polluted": true}, "zero": 0}') as Record<string, unknown>;
    payload['zero'] = -0;
    const record = outcome({
      status: 'failed',
      result: undefined,
      error: 'boom',
      kwargs: payload,
      metadata: { removeOnFail: true },
      parentId: undefined,
      startedAt: null,
      completedAt: null,
    });
    outcomes.remember(record);
    const back = outcomes.get(record.id)!;
    assert.equal(back.result, null);
    assert.equal(back.error, 'boom');
    assert.equal(back.parentId, null);
    assert.ok(Object.is(back.kwargs['zero'], 0));
    assert.ok(Object.hasOwn(back.kwargs, '__proto__'));
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal(back.startedAt, null);
    assert.equal(back.completedAt, null);
  });

  test('an invalid date comes back invalid; forget and an unknown id give nothing', () => {
    const outcomes = new RemovedOutcomes();
    const record = outcome({ queuedAt: new Date(NaN), startedAt: new Date(NaN) });
    outcomes.remember(record);
    const back = outcomes.get(record.id)!;
    assert.ok(Number.isNaN(back.queuedAt.getTime()));
    assert.ok(Number.isNaN(back.startedAt!.getTime()));
    outcomes.forget(record.id);
    assert.equal(outcomes.get(record.id), undefined);
    assert.equal(outcomes.get('nope'), undefined);
  });
});
