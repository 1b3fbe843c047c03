import 'reflect-metadata';
import { ConsoleLogger, Injectable, Logger, type LoggerService, type Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  OnQueueEvent,
  OnTaskEvent,
  QueueConfigurationError,
  QueueEvents,
  QueueService,
  QueueWorker,
  QueuesModule,
  Schedule,
  Task,
  TaskCtx,
  getCurrentTaskContext,
  type QueueEventEnvelope,
  type QueuesModuleOptions,
  type TaskExecutionContext,
} from '../../src/index.js';
import { EventListenerExplorer } from '../../src/events/event-listener.explorer.js';
import { fastWorker } from '../support/app.js';
import { deleteRedisKeys } from '../support/redis-backends.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

/** What a listener saw (recorded by the listener itself: the checks never reach into the app). */
interface Heard {
  by: string;
  type: string;
  taskId: string | null;
  taskName: string | null;
  queue: string | null;
  workerId: string | null;
  message: string | null;
  payload: Record<string, unknown>;
  inTaskContext: boolean;
}

const heard = (by: string, event: QueueEventEnvelope): Heard => ({
  by,
  type: event.type,
  taskId: event.taskId,
  taskName: event.taskName,
  queue: event.queue,
  workerId: event.workerId,
  message: event.message,
  payload: event.payload,
  inTaskContext: getCurrentTaskContext() !== undefined,
});

@Injectable()
class ListenTasks {
  @Task('listen.ok')
  async ok(n: number, @TaskCtx() ctx: TaskExecutionContext) {
    await ctx.event('listen.custom', { n });
    return n * 2;
  }

  @Task('listen.side', { queue: 'side' })
  async side() {
    return 'side';
  }

  @Task('listen.fail', { retries: 1 })
  async fail() {
    throw new Error('listen boom');
  }

  @Task('listen.other-fail')
  async otherFail() {
    throw new Error('other boom');
  }
}

/** A user's listener provider; each app gets its own class and its own log of calls. */
function auditListeners(log: Heard[]): Type {
  @Injectable()
  class AuditListeners {
    @OnTaskEvent('task.completed')
    completed(event: QueueEventEnvelope) {
      log.push(heard('completed', event));
    }

    @OnTaskEvent('task.failed', { task: 'listen.fail' })
    failedOfOneTask(event: QueueEventEnvelope) {
      log.push(heard('failedOfOneTask', event));
    }

    @OnTaskEvent(['task.started', 'task.completed'], { queue: 'side' })
    sideQueue(event: QueueEventEnvelope) {
      log.push(heard('sideQueue', event));
    }

    @OnTaskEvent('*', { task: 'listen.ok', queue: 'side' })
    neverBoth(event: QueueEventEnvelope) {
      log.push(heard('neverBoth', event));
    }

    @OnTaskEvent('listen.custom')
    custom(event: QueueEventEnvelope) {
      log.push(heard('custom', event));
    }

    // Stacked: one method, two declarations.
    @OnTaskEvent('task.enqueued', { task: 'listen.side' })
    @OnTaskEvent('task.enqueued', { task: ['listen.ok'] })
    enqueued(event: QueueEventEnvelope) {
      log.push(heard('enqueued', event));
    }

    @OnQueueEvent('queue.custom')
    queueCustom(event: QueueEventEnvelope) {
      log.push(heard('queueCustom', event));
    }

    @OnQueueEvent('*', { queue: 'side' })
    sideQueueEvents(event: QueueEventEnvelope) {
      log.push(heard('sideQueueEvents', event));
    }
  }
  return AuditListeners;
}

class RecordingLogger extends ConsoleLogger implements LoggerService {
  readonly errors: string[] = [];
  override error(message: unknown, ...rest: unknown[]): void {
    this.errors.push(String(message));
    void rest;
  }
  override log(): void {}
  override warn(): void {}
}

async function startApp(
  providers: Type[],
  options: QueuesModuleOptions = {},
  logger?: LoggerService,
): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      QueuesModule.forRoot({
        queueBackend: 'memory',
        ...options,
        worker: { ...fastWorker, ...options.worker },
      }),
    ],
    providers,
  }).compile();
  if (logger) moduleRef.useLogger(logger);
  await moduleRef.init();
  return moduleRef;
}

async function until(condition: () => boolean, timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const by = (log: Heard[], name: string) => log.filter((entry) => entry.by === name);

describe('@OnTaskEvent / @OnQueueEvent (memory backend)', () => {
  test('decorated provider methods hear the events they ask for: type, task name, queue, custom types', async () => {
    const log: Heard[] = [];
    const app = await startApp([ListenTasks, auditListeners(log)]);
    try {
      const queues = app.get(QueueService);
      const ok = await queues.enqueue('listen.ok', [2]);
      const side = await queues.enqueue('listen.side');
      const fail = await queues.enqueue('listen.fail');
      const otherFail = await queues.enqueue('listen.other-fail');
      for (const record of [ok, side, fail, otherFail]) await queues.waitFor(record.id, { timeout: 5_000 });
      await until(() => by(log, 'completed').length === 2 && by(log, 'failedOfOneTask').length === 2);

      assert.deepEqual(
        by(log, 'completed')
          .map((e) => e.taskId)
          .sort(),
        [ok.id, side.id].sort(),
      );
      // task.failed once per attempt, of listen.fail only (not listen.other-fail); willRetry false on the last.
      assert.deepEqual(
        by(log, 'failedOfOneTask').map((e) => [e.taskId, e.payload['willRetry'], e.message]),
        [
          [fail.id, true, 'listen boom'],
          [fail.id, false, 'listen boom'],
        ],
      );
      assert.deepEqual(
        by(log, 'sideQueue').map((e) => [e.type, e.taskId]),
        [
          ['task.started', side.id],
          ['task.completed', side.id],
        ],
      );
      assert.deepEqual(by(log, 'neverBoth'), [], 'task and queue filters must both match');
      assert.deepEqual(
        by(log, 'custom').map((e) => [e.taskId, e.payload]),
        [[ok.id, { n: 2 }]],
      );
      assert.deepEqual(
        by(log, 'enqueued')
          .map((e) => e.taskId)
          .sort(),
        [ok.id, side.id].sort(),
      );
      assert.ok(
        log.every((e) => !e.inTaskContext),
        'listeners run outside the task context of the publisher',
      );
      // Task events never reach queue listeners, even those of the record's queue.
      assert.deepEqual(by(log, 'queueCustom'), []);
      assert.deepEqual(by(log, 'sideQueueEvents'), []);

      const events = app.get(QueueEvents);
      await events.publish({ type: 'queue.custom', queue: 'side' });
      await events.publish({ type: 'queue.custom', queue: 'main' });
      await events.publish({ type: 'worker.note' });
      assert.deepEqual(
        by(log, 'queueCustom').map((e) => e.queue),
        ['side', 'main'],
      );
      assert.deepEqual(
        by(log, 'sideQueueEvents').map((e) => [e.type, e.queue]),
        [['queue.custom', 'side']],
      );
    } finally {
      await app.close();
    }
  });

  test('a throwing or rejecting listener is logged and breaks neither the worker nor the other listeners', async () => {
    const log: Heard[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);

    @Injectable()
    class UnrulyListeners {
      @OnTaskEvent('task.started')
      throwsAtOnce() {
        throw new Error('sync listener bug');
      }

      @OnTaskEvent('task.completed')
      async rejectsLater() {
        await sleep(1);
        throw new Error('async listener bug');
      }

      @OnQueueEvent('queue.custom')
      queueThrows() {
        throw new Error('queue listener bug');
      }

      @OnTaskEvent(['task.started', 'task.completed'])
      records(event: QueueEventEnvelope) {
        log.push(heard('records', event));
      }

      @OnQueueEvent('queue.custom')
      recordsQueue(event: QueueEventEnvelope) {
        log.push(heard('recordsQueue', event));
      }
    }

    const logger = new RecordingLogger();
    const app = await startApp([ListenTasks, UnrulyListeners], {}, logger);
    try {
      const queues = app.get(QueueService);
      const records = [];
      for (let i = 0; i < 3; i++) records.push(await queues.enqueue('listen.ok', [i]));
      const done = await Promise.all(records.map((r) => queues.waitFor(r.id, { timeout: 5_000 })));
      assert.deepEqual(
        done.map((r) => [r.status, r.result]),
        [
          ['completed', 0],
          ['completed', 2],
          ['completed', 4],
        ],
      );
      await app.get(QueueEvents).publish({ type: 'queue.custom', queue: 'q' });
      await until(() => by(log, 'records').length === 6 && logger.errors.length >= 7);
      assert.equal(by(log, 'recordsQueue').length, 1);
      const sync = logger.errors.filter((m) =>
        m.includes('UnrulyListeners.throwsAtOnce failed on task.started'),
      );
      const async = logger.errors.filter((m) =>
        m.includes('UnrulyListeners.rejectsLater failed on task.completed'),
      );
      const queue = logger.errors.filter((m) =>
        m.includes('UnrulyListeners.queueThrows failed on queue.custom'),
      );
      assert.equal(sync.length, 3);
      assert.match(sync[0]!, /sync listener bug/);
      assert.equal(async.length, 3);
      assert.match(async[0]!, /async listener bug/);
      assert.equal(queue.length, 1);
      await sleep(20);
      assert.deepEqual(unhandled, []);
    } finally {
      await app.close();
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUnhandled);
      Logger.overrideLogger(new ConsoleLogger());
    }
  });

  test('listeners hear events published during bootstrap: the first occurrence of a schedule', async () => {
    const log: Heard[] = [];

    @Injectable()
    class ScheduledTasks {
      @Task('listen.scheduled')
      @Schedule({ interval: 3_600_000, initialDelay: 3_600_000 })
      async tick() {}

      @OnTaskEvent('task.enqueued', { task: 'listen.scheduled' })
      enqueued(event: QueueEventEnvelope) {
        log.push(heard('enqueued', event));
      }
    }

    const app = await startApp([ScheduledTasks]);
    try {
      // Synchronous listeners: the occurrence's task.enqueued was heard before init resolved.
      assert.equal(by(log, 'enqueued').length, 1);
      assert.equal(by(log, 'enqueued')[0]!.payload['schedule'], 'scheduled:listen.scheduled');
    } finally {
      await app.close();
    }
  });

  test('listeners are unsubscribed at application shutdown', async () => {
    const log: Heard[] = [];
    const app = await startApp([auditListeners(log)]);
    const explorer = app.get(EventListenerExplorer);
    const events = app.get(QueueEvents);
    try {
      assert.equal(explorer.listenerCount, 9);
      await events.publish({ type: 'queue.custom', queue: 'a' });
      assert.equal(by(log, 'queueCustom').length, 1);
      explorer.onApplicationShutdown();
      assert.equal(explorer.listenerCount, 0);
      await events.publish({ type: 'queue.custom', queue: 'b' });
      assert.equal(by(log, 'queueCustom').length, 1, 'no call after shutdown');
    } finally {
      await app.close();
    }
  });

  test('a listener declaration without an event type fails bootstrap naming the method', async () => {
    @Injectable()
    class NoType {
      @OnTaskEvent([])
      nothing() {}
    }
    await assert.rejects(
      startApp([NoType]),
      (error: unknown) =>
        error instanceof QueueConfigurationError &&
        /@OnTaskEvent on NoType\.nothing: needs an event type/.test(error.message),
    );
  });
});

describe('@OnTaskEvent across processes (Redis)', { skip: skipUnless('redis') }, () => {
  const prefixes: string[] = [];
  after(async () => {
    for (const prefix of prefixes) await deleteRedisKeys(prefix);
  });

  test(
    "app B's listener hears app A's task.failed through the Redis transport",
    { timeout: 30_000 },
    async () => {
      const keyPrefix = `listen_${uniqueSuffix()}`;
      const namespace = `ns_listen_${uniqueSuffix()}`;
      prefixes.push(keyPrefix);
      const options: QueuesModuleOptions = {
        queueBackend: { type: 'redis', url: testServices.redisUrl, keyPrefix },
        events: { namespace },
      };
      const logA: Heard[] = [];
      const logB: Heard[] = [];
      // A runs the task (worker on) and listens too; B has no worker and does not even know the task.
      const appA = await startApp([ListenTasks, auditListeners(logA)], options);
      const appB = await startApp([auditListeners(logB)], { ...options, worker: { enabled: false } });
      try {
        const record = await appA.get(QueueService).enqueue('listen.fail', [], { maxRetries: 0 });
        await until(() => by(logB, 'failedOfOneTask').length === 1, 10_000);
        const [failed] = by(logB, 'failedOfOneTask');
        assert.equal(failed!.taskId, record.id);
        assert.equal(failed!.message, 'listen boom');
        assert.equal(failed!.payload['willRetry'], false);
        assert.equal(failed!.workerId, appA.get(QueueWorker).workerId, "A's worker failed it");
        // A heard its own event once, in process.
        await until(() => by(logA, 'failedOfOneTask').length === 1);
        // Filters hold across processes too: B heard nothing of other tasks or queues.
        await appA.get(QueueService).enqueue('listen.other-fail');
        await appA.get(QueueService).enqueue('listen.side');
        await until(() => by(logB, 'sideQueue').length === 2, 10_000);
        assert.equal(by(logB, 'failedOfOneTask').length, 1);
        assert.deepEqual(
          by(logB, 'sideQueue').map((e) => e.type),
          ['task.started', 'task.completed'],
        );
      } finally {
        await appB.close();
        await appA.close();
      }
    },
  );
});
