import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { after, before, describe, test } from 'node:test';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { RedisClusterQueueBackend } from '../../src/backends/redis/redis-cluster.backend.js';
import { Task } from '../../src/decorators/task.decorator.js';
import { QueueConfigurationError } from '../../src/errors/queue-configuration.error.js';
import { QueueError } from '../../src/errors/queue.error.js';
import { TaskNotFoundError } from '../../src/errors/task-not-found.error.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';
import { QueueService } from '../../src/service/queue.service.js';
import { createQueuesApp } from '../support/app.js';
import { ThrowawayRedisCluster } from '../support/redis-cluster.js';
import { uniqueSuffix } from '../support/services.js';
import { backendMatrix, type MatrixBackend } from './support/backend-matrix.js';

const QUEUE = 'lookup_idle'; // no worker runs: records stay where the calls put them

@Injectable()
class LookupTasks {
  @Task('lookup.idle', { queue: QUEUE })
  idle(): void {}
}

/** Values no record id can have, and what the error must say about each. */
const BAD_IDS: Array<[string, unknown, RegExp]> = [
  ['empty', '', /must be a string of 1-255 characters, got 0 characters/],
  ['too long (256)', 'x'.repeat(256), /must be a string of 1-255 characters, got 256 characters/],
  ['with a NUL', 'a\u0000b', /must not contain a NUL/],
  ['a lone high surrogate', 'id\ud800', /must be well-formed Unicode/],
  ['a lone low surrogate', '\udc00id', /must be well-formed Unicode/],
  ['a number', 42, /must be a string of 1-255 characters, got 42/],
  ['null', null, /must be a string/],
  ['undefined', undefined, /must be a string/],
  ['an object', { id: 'x' }, /must be a string/],
  ['an array', ['x'], /must be a string/],
];

/** Every call that names one record, as `[name in the error title, call]`. */
const RECORD_CALLS = (queues: QueueService): Array<[string, (id: never) => Promise<unknown>]> => [
  ['getTask', (id) => queues.getTask(id)],
  ['cancel', (id) => queues.cancel(id)],
  ['retry', (id) => queues.retry(id)],
  ['remove', (id) => queues.remove(id)],
  ['promote', (id) => queues.promote(id)],
  ['reschedule', (id) => queues.reschedule(id, new Date(Date.now() + 60_000))],
  ['read the logs of', (id) => queues.getTaskLogs(id)],
  ['waitFor', (id) => queues.waitFor(id, { timeout: 100 })],
];

/** `call` rejects (or throws) a QueueConfigurationError titled `Invalid <title>` whose problem at `path` matches. */
async function refused(
  what: string,
  call: () => unknown,
  title: string,
  path: string,
  message: RegExp,
): Promise<void> {
  await assert.rejects(
    Promise.resolve().then(call),
    (error: unknown) => {
      assert.ok(error instanceof QueueConfigurationError, `${what}: got ${String(error)}`);
      assert.ok(error instanceof QueueError, `${what}: a QueueError`);
      assert.match(error.message, new RegExp(`^Invalid ${title}`), what);
      const problem = error.problems.find((p) => p.path === path);
      assert.ok(problem, `${what}: names ${path} in ${JSON.stringify(error.problems)}`);
      assert.match(problem.message, message, what);
      return true;
    },
    what,
  );
}

/** The Redis cluster of this file (3 masters, no replicas), started only when its suite runs. */
const cluster = new ThrowawayRedisCluster({ replicas: 0, appendOnly: false });
const clusterTarget: MatrixBackend = {
  name: 'redis-cluster' as never,
  skip: false,
  factory: async () => {
    await cluster.start();
    const backend = new RedisClusterQueueBackend({
      type: 'redis',
      cluster: { nodes: cluster.nodes },
      keyPrefix: `lookup_${uniqueSuffix()}`,
    });
    await backend.open();
    return backend;
  },
  teardown: () => cluster.stop(),
  peer: async (backend) => backend,
};

// Lookups take what a user or an HTTP request hands them. A value no record can have is refused before any store is
// asked, the same way everywhere (PostgreSQL refused a NUL with its own driver error where the other stores found
// nothing), and a value a record could have but none has gets the same typed answer on every backend.
for (const target of [...backendMatrix(), clusterTarget]) {
  describe(`lookups through QueueService: ${target.name}`, { skip: target.skip }, () => {
    let backend: QueueBackend;
    let app: TestingModule;
    let queues: QueueService;
    let sentinel: QueuedTaskRecord;

    before(async () => {
      backend = await target.factory();
      app = await createQueuesApp([LookupTasks], {
        queueBackend: backend,
        worker: { enabled: false, cleanup: false },
        events: { crossProcess: false },
      });
      queues = app.get(QueueService);
      sentinel = await queues.enqueue('lookup.idle', [1], {
        key: `lookup-key-${uniqueSuffix()}`,
        delay: 3_600_000,
      });
    });
    after(async () => {
      await app?.close();
      await backend?.close();
      await target.teardown();
    });

    test('every call on one record refuses an id no record can have, naming the call and the id', async () => {
      for (const [title, call] of RECORD_CALLS(queues))
        for (const [kind, id, message] of BAD_IDS)
          await refused(`${title} with an id ${kind}`, () => call(id as never), title, 'id', message);
      const read = await queues.getTask(sentinel.id);
      assert.equal(read?.status, 'scheduled', 'nothing was touched');
      assert.equal((await queues.getStatistics({ queue: QUEUE })).total, 1);
    });

    test('keys, queue and task names, since and waitFor options: each refused with its path', async () => {
      const cases: Array<[string, () => unknown, string, string, RegExp]> = [
        ['getTaskByKey NUL', () => queues.getTaskByKey('k\u0000'), 'getTaskByKey', 'key', /NUL/],
        ['getTaskByKey empty', () => queues.getTaskByKey(''), 'getTaskByKey', 'key', /1-255/],
        ['getTaskByKey long', () => queues.getTaskByKey('k'.repeat(256)), 'getTaskByKey', 'key', /1-255/],
        ['getTaskByKey surrogate', () => queues.getTaskByKey('\ud800'), 'getTaskByKey', 'key', /Unicode/],
        ['getTaskByKey number', () => queues.getTaskByKey(7 as never), 'getTaskByKey', 'key', /a string/],
        [
          'getStatistics NUL',
          () => queues.getStatistics({ queue: 'q\u0000' }),
          'getStatistics',
          'queue',
          /NUL/,
        ],
        [
          'getStatistics long',
          () => queues.getStatistics({ queue: 'q'.repeat(101) }),
          'getStatistics',
          'queue',
          /1-100/,
        ],
        [
          'listCompletedByTask NUL',
          () => queues.listCompletedByTask('t\u0000'),
          'listCompletedByTask',
          'taskName',
          /NUL/,
        ],
        [
          'listCompletedByTask bad since',
          () => queues.listCompletedByTask('lookup.idle', { since: new Date(NaN) }),
          'listCompletedByTask',
          'since',
          /must be a valid Date/,
        ],
        ...([NaN, 0, -5, 2.5, 10_001, '5', Infinity] as const).map(
          (limit): [string, () => unknown, string, string, RegExp] => [
            `listCompletedByTask limit ${String(limit)}`,
            () => queues.listCompletedByTask('lookup.idle', { limit: limit as never }),
            'listCompletedByTask',
            'limit',
            /must be an integer from 1 to 10000/,
          ],
        ),
        ['queue() NUL', () => queues.queue('q\u0000'), '', '', /./],
        [
          'waitFor NaN timeout',
          () => queues.waitFor(sentinel.id, { timeout: NaN }),
          'waitFor',
          'options.timeout',
          /non-negative number of ms, got NaN/,
        ],
        [
          'waitFor negative timeout',
          () => queues.waitFor(sentinel.id, { timeout: -1 }),
          'waitFor',
          'options.timeout',
          /non-negative/,
        ],
        [
          'waitFor zero pollInterval',
          () => queues.waitFor(sentinel.id, { timeout: 100, pollInterval: 0 }),
          'waitFor',
          'options.pollInterval',
          /positive number of ms, got 0/,
        ],
        [
          'waitFor text pollInterval',
          () => queues.waitFor(sentinel.id, { pollInterval: '5' as never }),
          'waitFor',
          'options.pollInterval',
          /positive number of ms/,
        ],
        [
          'waitFor unknown option',
          () => queues.waitFor(sentinel.id, { timeot: 5 } as never),
          'waitFor',
          'options.timeot',
          /is not a waitFor option/,
        ],
      ];
      for (const [what, call, title, path, message] of cases) {
        if (title === '') {
          assert.throws(call, QueueConfigurationError, what); // a handle is made at once, not awaited
          continue;
        }
        await refused(what, call, title, path, message);
      }
    });

    test('an id a record could have but none has: the same typed answer on every backend', async () => {
      const upper = sentinel.id.toUpperCase();
      const ids = [
        randomUUID(),
        'x'.repeat(255), // longer than the SQL id column (36)
        upper, // ids are case-sensitive: no collation folds them
        `${sentinel.id} `, // nor pads them (MariaDB's utf8mb4_bin compared 'a' and 'a ' equal)
        '\u{1F600}', // a surrogate pair: well-formed
        "1' OR '1'='1",
        '%',
        '_',
        '*',
        '{tag}',
      ];
      for (const id of ids) {
        const what = JSON.stringify(id.slice(0, 40));
        assert.equal(await queues.getTask(id), null, `getTask ${what}`);
        assert.equal(await queues.cancel(id), false, `cancel ${what}`);
        for (const [title, call] of RECORD_CALLS(queues).filter(([t]) => t !== 'getTask' && t !== 'cancel'))
          await assert.rejects(call(id as never), TaskNotFoundError, `${title} ${what}`);
      }
      assert.equal(await queues.getTaskByKey(`${sentinel.key!} `), null, 'keys are not padded either');
      assert.equal(await queues.getTaskByKey(sentinel.key!.toUpperCase()), null, 'nor folded');
      assert.deepEqual(await queues.listCompletedByTask('lookup.idle', { limit: 10_000 }), []);
      assert.deepEqual(await queues.listCompletedByTask('lookup.idle', { limit: 1 }), []);
      assert.equal((await queues.getTask(sentinel.id))?.status, 'scheduled', 'the record is untouched');
      assert.equal((await queues.getTaskByKey(sentinel.key!))?.id, sentinel.id);
    });
  });
}
