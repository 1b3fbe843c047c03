import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InMemoryQueueBackend } from '../../../src/backends/memory/memory.backend.js';
import type { QueueEventEnvelope } from '../../../src/events/queue-event.js';
import { QueueEvents } from '../../../src/events/queue-events.js';
import { RunContext } from '../../../src/execution/run-context.js';
import { TaskAbort } from '../../../src/execution/task-abort.js';
import { newTaskRecord } from '../../../src/models/new-record.js';

async function running() {
  const backend = new InMemoryQueueBackend();
  await backend.open();
  await backend.enqueue(newTaskRecord({ taskName: 'ctx.t', queue: 'ctx', kwargs: { a: 1 } }));
  const [record] = await backend.claimMany({ limit: 1, queues: ['ctx'], workerId: 'w' });
  const events = new QueueEvents();
  const seen: QueueEventEnvelope[] = [];
  events.events$.subscribe((event) => seen.push(event));
  return { backend, record: record!, events, seen };
}

describe('RunContext', () => {
  test('reporting functions work unbound, and each read returns the same function', async () => {
    const { backend, record, events, seen } = await running();
    const context = new RunContext(record, new TaskAbort(), events, backend);
    const { progress, log, event } = context;
    assert.equal(context.progress, progress);
    await progress(1, 2, 'half');
    await log('hello', { n: 1 });
    await event('custom.thing', { ok: true });
    assert.deepEqual(
      seen.map((e) => [e.type, e.taskId]),
      [
        ['task.progress', record.id],
        ['task.log', record.id],
        ['custom.thing', record.id],
      ],
    );
    await context.close();
    const stored = (await backend.getTask(record.id))!.metadata['progress'] as Record<string, unknown>;
    assert.deepEqual({ ...stored, at: undefined }, { current: 1, total: 2, message: 'half', at: undefined });
    assert.equal(typeof stored['at'], 'string');
  });

  test('the record is a copy made on first read; progress after close is published but not stored', async () => {
    const { backend, record, events, seen } = await running();
    const abort = new TaskAbort();
    const context = new RunContext(record, abort, events, backend);
    assert.equal(context.close(), undefined, 'nothing to land when no progress was reported');
    assert.notEqual(context.record, record);
    assert.deepEqual(context.record, record);
    assert.equal(context.record, context.record, 'one snapshot');
    assert.deepEqual(context.kwargs, { a: 1 });
    await context.progress(5, 10);
    assert.equal(seen.at(-1)!.type, 'task.progress');
    assert.equal((await backend.getTask(record.id))!.metadata['progress'], undefined);
    abort.abort(new Error('stop'));
    assert.equal(context.signal.aborted, true);
  });
});
