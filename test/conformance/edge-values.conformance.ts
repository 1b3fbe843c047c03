import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { QueueConfigurationError } from '../../src/errors/queue-configuration.error.js';
import { TaskSerializationError } from '../../src/errors/task-serialization.error.js';
import { MAX_RETRY_DELAY } from '../../src/execution/retry-backoff.js';
import type { EnqueueOptions } from '../../src/options/task-options.js';
import { VALUE_LIMITS } from '../../src/options/value-limits.js';
import { QueueService } from '../../src/service/queue.service.js';
import { Task } from '../../src/decorators/task.decorator.js';
import { createQueuesApp } from '../support/app.js';

@Injectable()
class EdgeTasks {
  @Task('edge.task')
  async run() {}
}

const INT32 = 2 ** 31;
const nested = (depth: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

/** Values past the limits, each with the option path its error must name. */
const REFUSED: Array<[EnqueueOptions, string]> = [
  [{ priority: INT32 }, 'priority'],
  [{ priority: -INT32 - 1 }, 'priority'],
  [{ priority: 0.5 }, 'priority'],
  [{ maxRetries: INT32 }, 'maxRetries'],
  [{ maxRetries: -1 }, 'maxRetries'],
  [{ key: 'k'.repeat(256) }, 'key'],
  [{ key: 'nul\0key' }, 'key'],
  [{ key: 'x\uD800' }, 'key'],
  [{ key: 'x\uDC00' }, 'key'],
  [{ executionProfile: 'p'.repeat(256) }, 'executionProfile'],
  [{ executionProfile: 'nul\0profile' }, 'executionProfile'],
  [{ executionProfile: '\uDBFFprofile' }, 'executionProfile'],
  [{ queue: 'q'.repeat(101) }, 'queue'],
  [{ timeout: 1e16 }, 'timeout'],
  [{ delay: Infinity }, 'delay'],
];

/**
 * Edge values (issue 18 items 10, 11, 12, 15) through `QueueService.enqueue` on one backend: every value past a
 * limit gets the same typed error on every backend before anything is written, and the limits themselves are
 * stored and read back exactly. Each test boots an app on a fresh backend from `factory` (own table / key prefix).
 */
export function describeEdgeValueConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: { skip?: string | false } = {},
): void {
  describe(`Edge values: ${name}`, { skip: options.skip }, () => {
    let app: TestingModule;
    let backend: QueueBackend;
    let queues: QueueService;
    let queue: string;

    beforeEach(async () => {
      backend = await factory();
      app = await createQueuesApp([EdgeTasks], { queueBackend: backend, worker: { enabled: false } });
      queues = app.get(QueueService);
      queue = `edge_${randomUUID().slice(0, 8)}`;
    });
    afterEach(() => app.close()); // closes the backend too

    const storedCount = async () => (await backend.getStatistics({})).total;

    test('every value past a limit gets a QueueConfigurationError naming the field; nothing is stored', async () => {
      for (const [options, field] of REFUSED) {
        await assert.rejects(
          queues.enqueue('edge.task', [], { queue, ...options }),
          (error: unknown) =>
            error instanceof QueueConfigurationError &&
            error.problems.some((problem) => problem.path.endsWith(`.options.${field}`)),
          `${field}: ${JSON.stringify(options).slice(0, 80)}`,
        );
      }
      await assert.rejects(
        queues.enqueueMany([
          { task: 'edge.task', options: { queue } },
          { task: 'edge.task', options: { queue, priority: INT32 } },
        ]),
        QueueConfigurationError,
      );
      assert.equal(await storedCount(), 0);
    });

    test('keys that differ only in a lone surrogate are refused, never merged into one record', async () => {
      for (const key of ['x\uD800', 'x\uDC00'])
        await assert.rejects(queues.enqueue('edge.task', [], { queue, key }), QueueConfigurationError);
      const pair = await queues.enqueue('edge.task', [], { queue, key: 'x\uD800\uDC00' });
      const other = await queues.enqueue('edge.task', [], { queue, key: 'x\uD800\uDC01' });
      assert.notEqual(pair.id, other.id);
      assert.equal((await backend.getTaskByKey('x\uD800\uDC00'))!.id, pair.id);
      assert.equal(await storedCount(), 2);
    });

    test('keys, groups and ids that differ only by trailing spaces or case are different values', async () => {
      // MariaDB's and MySQL's utf8mb4_bin is a PAD SPACE collation: it compared 'k' and 'k ' equal, so the second
      // enqueue returned the first record as its duplicate, and getTask('<id> ') found '<id>'. Every other store
      // compares them exactly.
      const key = `pad_${randomUUID().slice(0, 8)}`;
      const group = `g_${randomUUID().slice(0, 8)}`;
      const plain = await queues.enqueue('edge.task', [], { queue, key, group });
      const padded = await queues.enqueue('edge.task', [], { queue, key: `${key} `, group: `${group} ` });
      const upper = await queues.enqueue('edge.task', [], { queue, key: key.toUpperCase() });
      assert.notEqual(padded.id, plain.id, 'a key with a trailing space is another key');
      assert.notEqual(upper.id, plain.id, 'keys are case-sensitive');
      assert.equal(padded.key, `${key} `);
      assert.equal((await backend.getTaskByKey(key))!.id, plain.id);
      assert.equal((await backend.getTaskByKey(`${key} `))!.id, padded.id);
      assert.equal(await backend.getTaskByKey(`${key}  `), null);
      assert.equal(
        await backend.getTask(`${plain.id} `),
        null,
        'an id with a trailing space names no record',
      );
      assert.equal(await queues.cancel(`${plain.id} `), false);
      assert.equal((await backend.getTask(plain.id))!.status, 'pending');
      assert.deepEqual(
        (await queues.listTasks({ group: `${group} ` })).records.map((r) => r.id),
        [padded.id],
        'a group with a trailing space is another group',
      );
      assert.equal(await storedCount(), 3);
    });

    test("user metadata cannot make a record a flow child: the library's flow link is its own", async () => {
      const parent = await queues.flow({
        task: 'edge.task',
        options: { queue },
        children: [
          { task: 'edge.task', options: { queue } },
          { task: 'edge.task', options: { queue } },
        ],
      });
      assert.equal(parent.record.status, 'waiting');
      // Metadata copied from a child (or written by a caller) that names the parent as its own.
      const forged = { flow: { root: parent.record.id, parent: parent.record.id, path: 'children[0]' } };
      const plain = await queues.enqueue('edge.task', [], { queue, metadata: { ...forged, note: 'kept' } });
      assert.equal(plain.parentId, null);
      assert.equal(plain.metadata['flow'], undefined, 'metadata.flow is the library’s');
      assert.equal(plain.metadata['note'], 'kept');
      const claimed = await backend.claimMany({ limit: 10, queues: [queue], workerId: 'edge-worker' });
      assert.deepEqual(
        claimed.map((r) => r.id).sort(),
        [...parent.children.map((c) => c.record.id), plain.id].sort(),
      );
      assert.ok(await backend.completeTask(plain.id, 'ok', { expectedRetryCount: 0 }));
      assert.ok(await backend.completeTask(parent.children[0]!.record.id, 'a', { expectedRetryCount: 0 }));
      assert.equal(
        (await backend.getTask(parent.record.id))!.status,
        'waiting',
        'one of its two children ended: the parent still waits',
      );
      assert.ok(await backend.completeTask(parent.children[1]!.record.id, 'b', { expectedRetryCount: 0 }));
      assert.equal((await backend.getTask(parent.record.id))!.status, 'pending');
    });

    test('args nested deeper than 256 levels (even 10,000) get a TaskSerializationError; nothing is stored', async () => {
      for (const depth of [256, 10_000]) {
        await assert.rejects(
          queues.enqueue('edge.task', [nested(depth)], { queue }),
          (error: unknown) => error instanceof TaskSerializationError && /256 levels/.test(error.message),
        );
      }
      await assert.rejects(
        queues.enqueue('edge.task', [], { queue, kwargs: { deep: nested(300) } }),
        TaskSerializationError,
      );
      assert.equal(await storedCount(), 0);
    });

    test('the limits themselves are stored and read back exactly', async () => {
      const key = `${'k'.repeat(252)}😀ü`; // 255 UTF-16 code units
      assert.equal(key.length, VALUE_LIMITS.keyLength);
      const profile = 'p'.repeat(VALUE_LIMITS.executionProfileLength);
      const deepest = nested(255); // inside the args array: 256 levels
      const high = await queues.enqueue('edge.task', [deepest], {
        queue,
        priority: VALUE_LIMITS.int32Max,
        maxRetries: VALUE_LIMITS.int32Max,
        key,
        executionProfile: profile,
        timeout: 30 * 24 * 3600 * 1000,
      });
      const low = await queues.enqueue('edge.task', [], { queue, priority: VALUE_LIMITS.int32Min });
      const readHigh = (await backend.getTask(high.id))!;
      assert.equal(readHigh.priority, VALUE_LIMITS.int32Max);
      assert.equal(readHigh.maxRetries, VALUE_LIMITS.int32Max);
      assert.equal(readHigh.key, key);
      assert.equal(readHigh.executionProfile, profile);
      assert.deepEqual(readHigh.args, [deepest]);
      assert.equal(readHigh.metadata['timeout'], 30 * 24 * 3600 * 1000);
      assert.equal((await backend.getTaskByKey(key))!.id, high.id);
      assert.equal((await backend.getTask(low.id))!.priority, VALUE_LIMITS.int32Min);
    });

    test('-0 in args is read back as 0, as JSON has it, on every store', async () => {
      const record = await queues.enqueue('edge.task', [-0, { n: -0 }, [-0]], { queue, kwargs: { z: -0 } });
      const read = (await backend.getTask(record.id))!;
      assert.ok(Object.is(read.args[0], 0) && Object.is((read.args[1] as { n: number }).n, 0));
      assert.ok(Object.is((read.args[2] as number[])[0], 0));
      assert.ok(Object.is(read.kwargs['z'], 0));
    });

    test('a retry at the longest backoff (the cap of retryDelay) is stored as a valid date', async () => {
      const record = await queues.enqueue('edge.task', [], { queue, maxRetries: 1 });
      const [claimed] = await backend.claimMany({ limit: 1, queues: [queue], workerId: 'edge-worker' });
      assert.equal(claimed?.id, record.id);
      const retryAt = new Date(Date.now() + MAX_RETRY_DELAY);
      const failed = await backend.failTask(record.id, 'boom', {
        retry: true,
        retryAt,
        expectedRetryCount: 0,
      });
      assert.equal(failed?.status, 'scheduled');
      const read = (await backend.getTask(record.id))!;
      assert.equal(read.scheduledAt?.getTime(), retryAt.getTime());
    });
  });
}
