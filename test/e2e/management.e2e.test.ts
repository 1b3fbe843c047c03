import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Task } from '../../src/decorators/task.decorator.js';
import { TaskCtx } from '../../src/decorators/task-ctx.decorator.js';
import type { TaskExecutionContext } from '../../src/context/task-execution-context.js';
import { QueueConfigurationError } from '../../src/errors/queue-configuration.error.js';
import { TaskNotFoundError } from '../../src/errors/task-not-found.error.js';
import { TaskStateError } from '../../src/errors/task-state.error.js';
import { QueueError } from '../../src/errors/queue.error.js';
import { TASK_LOG_LIMITS } from '../../src/management/task-log.js';
import type { QueuesModuleOptions } from '../../src/options/queues-module-options.js';
import { QueuesModule } from '../../src/queues.module.js';
import { QueueService } from '../../src/service/queue.service.js';
import { QueueEvents } from '../../src/events/queue-events.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';
import { fastWorker } from '../support/app.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';
import { deleteRedisKeys } from '../support/redis-backends.js';
import { postgresTableFixture } from '../support/sql-backends.js';

/** Worked by the app's worker. */
const WORKED = 'mgmt_worked';
/** Never worked by the app's worker (its records stay where management puts them). */
const IDLE = 'mgmt_idle';

@Injectable()
class ManagedTasks {
  release: (() => void) | undefined;

  @Task('mgmt.logs', { queue: WORKED, retries: 1 })
  async logs(@TaskCtx() ctx: TaskExecutionContext): Promise<string> {
    await ctx.log(`attempt ${ctx.attempt} starts`, { attempt: ctx.attempt });
    if (ctx.attempt === 1) {
      await ctx.log('failing on purpose', undefined, 'error');
      throw new Error('first attempt fails');
    }
    await ctx.log('nul\u0000 and a lone \uD800 surrogate', undefined, 'warning');
    await ctx.log('x'.repeat(TASK_LOG_LIMITS.messageChars + 500));
    return 'done';
  }

  @Task('mgmt.chatty', { queue: WORKED })
  async chatty(@TaskCtx() ctx: TaskExecutionContext): Promise<void> {
    for (let i = 0; i < TASK_LOG_LIMITS.linesPerRecord + 50; i++) void ctx.log(`line ${i}`);
  }

  @Task('mgmt.hold', { queue: WORKED })
  async hold(): Promise<void> {
    await new Promise<void>((resolve) => (this.release = resolve));
  }

  @Task('mgmt.quick', { queue: WORKED })
  async quick(): Promise<string> {
    return 'quick';
  }

  @Task('mgmt.idle', { queue: IDLE })
  async idle(): Promise<void> {}
}

/** The user's provider: QueueService by constructor. */
@Injectable()
class Operator {
  constructor(
    readonly queues: QueueService,
    readonly events: QueueEvents,
  ) {}
}

async function boot(
  queueBackend: QueuesModuleOptions['queueBackend'],
): Promise<{ app: TestingModule; queues: QueueService; events: QueueEvents }> {
  @Module({
    imports: [
      QueuesModule.forRoot({
        queueBackend,
        // A loaded machine can hold a heartbeat past the test default (500 ms): a stale retry would fail the record.
        worker: { ...fastWorker, staleAfter: 10_000, heartbeatInterval: 500, queues: [WORKED] },
      }),
    ],
    providers: [ManagedTasks, Operator],
  })
  class OperatorModule {}
  const app = await Test.createTestingModule({ imports: [OperatorModule] }).compile();
  await app.init();
  const operator = app.get(Operator);
  return { app, queues: operator.queues, events: operator.events };
}

const postgres = postgresTableFixture('mgmt_e2e');
const redisPrefix = `mgmt_e2e_${uniqueSuffix()}`;

for (const [name, backend, skip] of [
  ['memory', () => 'memory' as const, false],
  ['postgres', () => postgres.config, skipUnless('postgres')],
  [
    'redis',
    () => ({ type: 'redis' as const, url: testServices.redisUrl, keyPrefix: redisPrefix }),
    skipUnless('redis'),
  ],
] as const) {
  describe(`management through QueueService: ${name}`, { skip }, () => {
    before(async () => {
      if (name === 'postgres') await postgres.start();
    });
    after(async () => {
      if (name === 'postgres') await postgres.drop();
      if (name === 'redis') await deleteRedisKeys(redisPrefix);
    });

    test('ctx.log lines are stored with the record across attempts, before its outcome', async () => {
      const { app, queues } = await boot(backend());
      try {
        const record = await queues.enqueue('mgmt.logs');
        const done = await queues.waitFor(record.id, { timeout: 10_000 });
        assert.equal(done.status, 'completed', done.error ?? undefined);
        const lines = await queues.getTaskLogs(record.id);
        assert.deepEqual(
          lines.map((l) => [l.attempt, l.level]),
          [
            [1, 'info'],
            [1, 'error'],
            [2, 'info'],
            [2, 'warning'],
            [2, 'info'],
          ],
        );
        assert.deepEqual(
          lines.slice(0, 2).map((l) => l.message),
          ['attempt 1 starts', 'failing on purpose'],
        );
        assert.deepEqual(lines[0]!.payload, { attempt: 1 });
        assert.equal(lines[3]!.message, 'nul\uFFFD and a lone \uFFFD surrogate');
        assert.equal(lines[4]!.message.length, TASK_LOG_LIMITS.messageChars);
        assert.ok(lines[4]!.message.endsWith('…'));
        assert.ok(lines.every((l) => l.at instanceof Date && l.at.getTime() <= Date.now()));
      } finally {
        await app.close();
      }
    });

    test('a record keeps its newest lines up to the cap; logs go with a removed record', async () => {
      const { app, queues } = await boot(backend());
      try {
        const record = await queues.enqueue('mgmt.chatty');
        await queues.waitFor(record.id, { timeout: 10_000 });
        await sleep(1_500); // lines left floating after the method returned are written by the timer
        const lines = await queues.getTaskLogs(record.id);
        assert.equal(lines.length, TASK_LOG_LIMITS.linesPerRecord);
        assert.equal(lines.at(-1)!.message, `line ${TASK_LOG_LIMITS.linesPerRecord + 49}`);
        assert.equal((await queues.remove(record.id)).id, record.id);
        await assert.rejects(queues.getTaskLogs(record.id), TaskNotFoundError);
        assert.equal(await queues.getTask(record.id), null);
      } finally {
        await app.close();
      }
    });

    test('remove, promote and reschedule: the state they allow, typed errors otherwise', async () => {
      const { app, queues, events } = await boot(backend());
      const tasks = app.get(ManagedTasks);
      const seen: string[] = [];
      const subscription = events.events$.subscribe((event) => {
        if (['task.removed', 'task.promoted', 'task.rescheduled'].includes(event.type)) seen.push(event.type);
      });
      try {
        const held = await queues.enqueue('mgmt.hold');
        for (let i = 0; i < 200 && (await queues.getTask(held.id))?.status !== 'running'; i++)
          await sleep(20);
        await assert.rejects(queues.remove(held.id), (error: unknown) => {
          assert.ok(error instanceof TaskStateError && error instanceof QueueError);
          assert.equal(error.status, 'running');
          assert.equal(error.taskId, held.id);
          assert.match(error.message, /it is running/);
          return true;
        });
        tasks.release?.();
        await queues.waitFor(held.id, { timeout: 10_000 });
        assert.equal((await queues.remove(held.id)).status, 'completed');
        assert.equal(await queues.getTask(held.id), null);
        await assert.rejects(queues.remove(held.id), TaskNotFoundError);
        await assert.rejects(queues.promote(randomUUID()), TaskNotFoundError);
        await assert.rejects(queues.remove(42 as never), QueueConfigurationError);
        await assert.rejects(queues.remove('x\u0000y'), QueueConfigurationError);

        const later = await queues.enqueue('mgmt.quick', [], { delay: 3_600_000 });
        assert.equal(later.status, 'scheduled');
        const promoted = await queues.promote(later.id);
        assert.equal(promoted.status, 'pending');
        assert.equal((await queues.waitFor(later.id, { timeout: 10_000 })).result, 'quick');
        await assert.rejects(queues.promote(later.id), TaskStateError);

        const idle = await queues.enqueue('mgmt.idle');
        const at = new Date(Date.now() + 3_600_000);
        const moved = await queues.reschedule(idle.id, at);
        assert.equal(moved.status, 'scheduled');
        assert.equal(moved.scheduledAt?.getTime(), at.getTime());
        assert.equal((await queues.reschedule(idle.id, new Date(0))).status, 'pending');
        await assert.rejects(queues.reschedule(idle.id, new Date(Number.NaN)), QueueConfigurationError);
        await assert.rejects(queues.reschedule(idle.id, '2030-01-01' as never), QueueConfigurationError);
        await assert.rejects(
          queues.reschedule(idle.id, new Date(Date.UTC(9001, 0, 1))),
          QueueConfigurationError,
        );
        await queues.cancel(idle.id);
        await assert.rejects(queues.reschedule(idle.id, at), TaskStateError);
        await assert.rejects(queues.promote(idle.id), /only scheduled records can be promoted/);
        assert.deepEqual(seen, ['task.removed', 'task.promoted', 'task.rescheduled', 'task.rescheduled']);
      } finally {
        subscription.unsubscribe();
        tasks.release?.();
        await app.close();
      }
    });

    test('listTasks pages through every record once, filters, and refuses bad input', async () => {
      const { app, queues } = await boot(backend());
      try {
        const key = `mk_${randomUUID().slice(0, 8)}`;
        const group = `mg_${randomUUID().slice(0, 8)}`;
        const queue = `mq_${randomUUID().slice(0, 8)}`; // not worked, and this test's alone
        const made: QueuedTaskRecord[] = [];
        for (let i = 0; i < 12; i++)
          made.push(
            await queues.enqueue(
              'mgmt.idle',
              [i],
              i === 3 ? { queue, key } : i % 4 === 0 ? { queue, group } : { queue },
            ),
          );
        // Newest first by creation time, then id descending (records of one millisecond order by id, not by call).
        const expected = [...made]
          .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
          .map((r) => r.id);
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page = await queues.listTasks({ queue, limit: 5, cursor });
          assert.ok(page.records.length <= 5);
          seen.push(...page.records.map((r) => r.id));
          cursor = page.nextCursor;
          if (cursor) assert.match(cursor, /^[A-Za-z0-9_-]+$/);
          await queues.enqueue('mgmt.idle', ['newer'], { queue }); // behind the cursor: not part of this walk
        } while (cursor);
        assert.deepEqual(
          seen.filter((id) => expected.includes(id)),
          expected,
        );
        assert.equal(new Set(seen).size, seen.length);
        assert.deepEqual(
          (await queues.listTasks({ key })).records.map((r) => r.id),
          [made[3]!.id],
        );
        assert.deepEqual(
          (await queues.listTasks({ group, taskName: 'mgmt.idle', status: 'pending' })).records.map(
            (r) => r.id,
          ),
          expected.filter((id) => [made[8]!.id, made[4]!.id, made[0]!.id].includes(id)),
        );
        assert.equal((await queues.listTasks({ queue, status: 'failed' })).nextCursor, null);
        assert.equal((await queues.listTasks({ queue })).records.length, 12 + 3);

        const invalid = async (filter: unknown, path: string) =>
          assert.rejects(queues.listTasks(filter as never), (error: unknown) => {
            assert.ok(error instanceof QueueConfigurationError, String(error));
            assert.ok(
              error.problems.some((p) => p.path === path),
              `${JSON.stringify(error.problems)} names ${path}`,
            );
            assert.match(error.message, /Invalid listTasks filter/);
            return true;
          });
        const forged = Buffer.from("1' OR 1=1 --:x", 'utf8').toString('base64url');
        await invalid({ cursor: 'not a cursor!' }, 'cursor');
        await invalid({ cursor: forged }, 'cursor');
        await invalid({ cursor: Buffer.from('99999999999999999:x').toString('base64url') }, 'cursor');
        await invalid({ cursor: 'A'.repeat(5_000) }, 'cursor');
        await invalid({ cursor: 12 }, 'cursor');
        await invalid({ limit: 0 }, 'limit');
        await invalid({ limit: 1_001 }, 'limit');
        await invalid({ limit: 2.5 }, 'limit');
        await invalid({ status: 'done' }, 'status');
        await invalid({ queue: 'a\u0000b' }, 'queue');
        await invalid({ key: 'k'.repeat(256) }, 'key');
        await invalid({ taskName: { $ne: null } }, 'taskName');
        await invalid({ page: 2 }, 'page');
        // A cursor of ours with another filter still names a place.
        const first = await queues.listTasks({ queue, limit: 2 });
        const other = await queues.listTasks({ taskName: 'mgmt.idle', limit: 2, cursor: first.nextCursor });
        assert.ok(other.records.every((r) => r.createdAt.getTime() <= first.records[1]!.createdAt.getTime()));
      } finally {
        await app.close();
      }
    });
  });
}
