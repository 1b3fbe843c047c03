import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { QueueError, QueueService, Task, type EnqueueOptions } from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';

@Injectable()
class PropertyTasks {
  @Task('prop.task') async run() {}
}

const RUNS = Number(process.env['QUEUES_PROPERTY_RUNS'] ?? 300);

/** Either the input is accepted and round-trips exactly, or it is rejected with a typed error and nothing is stored. */
describe('enqueue under arbitrary input (fast-check)', () => {
  let app: TestingModule;
  let queues: QueueService;
  before(async () => {
    app = await createQueuesApp([PropertyTasks], { worker: { enabled: false } });
    queues = app.get(QueueService);
  });
  after(() => app.close());

  async function acceptedOrRejectedCleanly(
    args: unknown,
    options: unknown,
  ): Promise<'accepted' | 'rejected'> {
    const before = (await queues.getStatistics()).total;
    let stored;
    try {
      stored = await queues.enqueue('prop.task', args as unknown[], options as EnqueueOptions);
    } catch (error) {
      assert.ok(error instanceof QueueError, `untyped error: ${String(error)}`);
      assert.equal((await queues.getStatistics()).total, before, 'a rejected enqueue persisted something');
      return 'rejected';
    }
    const read = await queues.getTask(stored.id);
    assert.ok(read);
    // JSON equality: same values, same keys in the same order (prototypes do not survive JSON, by design).
    const same = (a: unknown, b: unknown) => assert.equal(JSON.stringify(a), JSON.stringify(b));
    same(read.args, args);
    const o = (options ?? {}) as EnqueueOptions;
    if (o.kwargs) same(read.kwargs, o.kwargs);
    if (o.metadata) for (const [k, v] of Object.entries(o.metadata)) same(read.metadata[k], v);
    if (o.key !== undefined) assert.equal((await queues.getTaskByKey(o.key))?.id, read.id);
    if (o.queue !== undefined) assert.equal(read.queue, o.queue);
    if (o.priority !== undefined) assert.equal(read.priority, o.priority);
    await queues.cancel(read.id);
    return 'accepted';
  }

  test('JSON arguments, kwargs and metadata round-trip exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.jsonValue(), { maxLength: 5 }),
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
        async (args, kwargs) => {
          const outcome = await acceptedOrRejectedCleanly(args, { kwargs, metadata: { extra: kwargs } });
          // JSON values are always accepted (-0 is stored as 0, as JSON carries it).
          if (outcome === 'rejected') {
            assert.fail(`a JSON value was rejected: ${JSON.stringify(args)}`);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('arbitrary values are accepted only when they round-trip', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.anything({
            withBigInt: true,
            withDate: true,
            withMap: true,
            withSet: true,
            withTypedArray: true,
            withNullPrototype: true,
            withSparseArray: true,
            withBoxedValues: true,
          }),
          { maxLength: 4 },
        ),
        async (args) => {
          await acceptedOrRejectedCleanly(args, undefined);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('keys, queue names and priorities are validated before anything is stored', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            key: fc.oneof(fc.string({ maxLength: 300 }), fc.constant(''), fc.integer()),
            queue: fc.oneof(fc.string({ maxLength: 120 }), fc.stringMatching(/^[a-z][a-z0-9_.:-]{0,20}$/)),
            priority: fc.oneof(fc.integer(), fc.double(), fc.constant(Number.NaN)),
            delay: fc.oneof(fc.nat(), fc.integer({ min: -1000, max: -1 }), fc.double()),
            maxRetries: fc.oneof(fc.nat({ max: 10 }), fc.integer({ min: -5, max: -1 }), fc.double()),
          },
          { requiredKeys: [] },
        ),
        async (options) => {
          await acceptedOrRejectedCleanly([], options);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('option objects with unknown keys or wrong types are rejected', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.string({ maxLength: 12 }), fc.anything(), { maxKeys: 4 }),
        async (options) => {
          await acceptedOrRejectedCleanly([], options);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('unregistered task names are rejected with UnknownTaskError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 40 }).filter((name) => name !== 'prop.task'),
        async (name) => {
          const before = (await queues.getStatistics()).total;
          await assert.rejects(
            queues.enqueue(name, []),
            (error: unknown) => (error as Error).name === 'UnknownTaskError',
          );
          assert.equal((await queues.getStatistics()).total, before);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
