import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';

/**
 * Queue control in the claim (module option `queues`, DESIGN §13): `EnqueueOptions.group` stored on every backend;
 * `concurrency`, `groupConcurrency` and `rateLimit` enforced by `claimControlled`, with slots coming back on
 * complete, fail, cancel, release and stale recovery. Memory has single-process semantics. Each test gets a fresh
 * backend (own table / key prefix) from `factory` and its own queue names.
 */
export function describeQueueControlConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: { skip?: string | false } = {},
): void {
  describe(`QueueBackend conformance (queue control): ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let queue: string;

    beforeEach(async () => {
      backend = await factory();
      queue = `ctl_${randomUUID().slice(0, 8)}`;
    });
    afterEach(() => backend.close());

    test('a record keeps its group through enqueue, enqueueMany, claim and completion', async () => {
      const group = 'tenant-ü-🙂';
      const one = await backend.enqueue(newTaskRecord({ taskName: 'ctl.group', queue, group }));
      assert.equal(one.group, group);
      const [many, none] = await backend.enqueueMany([
        newTaskRecord({ taskName: 'ctl.group', queue, group: 'g'.repeat(255) }),
        newTaskRecord({ taskName: 'ctl.group', queue }),
      ]);
      assert.equal((await backend.getTask(many!.id))!.group, 'g'.repeat(255));
      assert.equal((await backend.getTask(none!.id))!.group, null);
      const claimed = await backend.claimMany({ limit: 10, queues: [queue], workerId: 'w' });
      assert.deepEqual(claimed.map((r) => r.group).sort(), [group, 'g'.repeat(255), null].sort());
      const done = await backend.completeTask(one.id, 1, { expectedRetryCount: 0 });
      assert.equal(done!.group, group);
      assert.equal((await backend.getTask(one.id))!.group, group);
    });
  });
}
