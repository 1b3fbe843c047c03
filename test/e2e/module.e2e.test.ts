import 'reflect-metadata';
import { Injectable, Module, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DuplicateTaskError,
  InMemoryQueueBackend,
  QueueBackend,
  QueueConfigurationError,
  QueueService,
  QueueWorker,
  QueuesModule,
  Task,
  TaskCtx,
  TaskRegistry,
  newTaskRecord,
  type QueuesModuleOptions,
  type QueuesOptionsFactory,
  type TaskExecutionContext,
} from '../../src/index.js';
import { createQueuesApp, fastWorker } from '../support/app.js';

@Injectable()
class EchoTasks {
  runs = 0;
  @Task('echo')
  async echo(value: unknown) {
    this.runs++;
    return value;
  }
}

describe('QueuesModule options', () => {
  test('forRoot lists every invalid option by path', () => {
    assert.throws(
      () =>
        QueuesModule.forRoot({
          worker: { concurrency: 0, pollInterval: -1, queues: ['bad queue'], prefetch: 1.5 },
          bogus: true,
        } as unknown as QueuesModuleOptions),
      (error: unknown) => {
        assert.ok(error instanceof QueueConfigurationError);
        const paths = error.problems.map((p) => p.path);
        for (const path of [
          'bogus',
          'worker.concurrency',
          'worker.pollInterval',
          'worker.queues[0]',
          'worker.prefetch',
        ])
          assert.ok(paths.includes(path), path);
        return true;
      },
    );
  });

  test('gateway: true without an access rule is a configuration error', () => {
    assert.throws(() => QueuesModule.forRoot({ gateway: true }), /authorize/);
  });

  test('an unknown queue backend name fails bootstrap listing the known ones', async () => {
    await assert.rejects(
      Test.createTestingModule({ imports: [QueuesModule.forRoot({ queueBackend: 'nosuch' })] }).compile(),
      /unknown queue backend "nosuch"; known: .*memory/,
    );
  });

  test('forRootAsync with useFactory, useClass and useExisting', async () => {
    @Injectable()
    class OptionsFactory implements QueuesOptionsFactory {
      createQueuesOptions(): QueuesModuleOptions {
        return { worker: { ...fastWorker } };
      }
    }
    @Module({ providers: [OptionsFactory], exports: [OptionsFactory] })
    class ConfigModule {}

    const variants = [
      QueuesModule.forRootAsync({ useFactory: async () => ({ worker: { ...fastWorker } }) }),
      QueuesModule.forRootAsync({ useClass: OptionsFactory }),
      QueuesModule.forRootAsync({ imports: [ConfigModule], useExisting: OptionsFactory }),
    ];
    for (const dynamic of variants) {
      const moduleRef = await Test.createTestingModule({
        imports: [dynamic],
        providers: [EchoTasks],
      }).compile();
      await moduleRef.init();
      const queues = moduleRef.get(QueueService);
      const record = await queues.enqueue('echo', ['async']);
      assert.equal((await queues.waitFor(record.id, { timeout: 3_000 })).result, 'async');
      await moduleRef.close();
    }
    await assert.rejects(
      Test.createTestingModule({
        imports: [QueuesModule.forRootAsync({ useFactory: () => ({ worker: { concurrency: -1 } }) })],
      }).compile(),
      /worker.concurrency/,
    );
  });

  test('duplicate task names fail bootstrap naming both classes', async () => {
    @Injectable()
    class First {
      @Task('dup.name') async a() {}
    }
    @Injectable()
    class Second {
      @Task('dup.name') async b() {}
    }
    await assert.rejects(createQueuesApp([First, Second]), (error: unknown) => {
      assert.ok(error instanceof DuplicateTaskError);
      assert.match(error.message, /First\.a/);
      assert.match(error.message, /Second\.b/);
      return true;
    });
  });

  test('request-scoped providers are skipped, not registered', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @Task('scoped.task') async run() {}
    }
    const app = await createQueuesApp([PerRequest, EchoTasks]);
    assert.equal(app.get(TaskRegistry).has('scoped.task'), false);
    assert.equal(app.get(TaskRegistry).has('echo'), true);
    await app.close();
  });

  test('invalid task options fail bootstrap', async () => {
    @Injectable()
    class BadOptions {
      @Task('bad.options', { retries: -1, priority: 0.5, queue: 'no spaces' }) async run() {}
    }
    await assert.rejects(createQueuesApp([BadOptions]), (error: unknown) => {
      assert.ok(error instanceof QueueConfigurationError);
      assert.equal(error.problems.length, 3);
      return true;
    });
  });
});

describe('execution backends and worker behaviour', () => {
  test('immediate runs inline inside enqueue, retries and delays included', async () => {
    let attempts = 0;
    @Injectable()
    class Inline {
      @Task('inline.flaky', { retries: 1, retryBackoff: 20 })
      async flaky() {
        attempts++;
        if (attempts === 1) throw new Error('first attempt fails');
        return 'ok';
      }
    }
    const app = await createQueuesApp([Inline], {
      executionBackend: 'immediate',
      worker: { enabled: false },
    });
    const queues = app.get(QueueService);
    const started = Date.now();
    const record = await queues.enqueue('inline.flaky', [], { delay: 50 });
    assert.equal(record.status, 'completed');
    assert.equal(record.result, 'ok');
    assert.equal(record.retryCount, 1);
    assert.ok(Date.now() - started >= 60);
    await app.close();
  });

  test('immediate: a retry due after the expiry ends expired inside enqueue (no worker to sweep it), not run', async () => {
    let attempts = 0;
    @Injectable()
    class InlineExpiring {
      @Task('inline.expiring', { retries: 1, retryBackoff: 400 })
      async expiring() {
        attempts++;
        throw new Error('fails');
      }
    }
    const app = await createQueuesApp([InlineExpiring], {
      executionBackend: 'immediate',
      worker: { enabled: false },
    });
    const record = await app.get(QueueService).enqueue('inline.expiring', [], { expiresIn: 200 });
    assert.equal(record.status, 'failed');
    assert.match(record.error ?? '', /^Task expired: not started by/);
    assert.equal(attempts, 1, 'the retry never ran');
    await app.close();
  });

  test('worker.enabled false leaves records pending', async () => {
    const app = await createQueuesApp([EchoTasks], { worker: { enabled: false } });
    const record = await app.get(QueueService).enqueue('echo', [1]);
    await sleep(100);
    assert.equal((await app.get(QueueService).getTask(record.id))!.status, 'pending');
    assert.equal(app.get(QueueWorker).isRunning, false);
    await app.close();
  });

  test('a record of a task unknown to the worker fails terminally with a clear error', async () => {
    const app = await createQueuesApp([EchoTasks]);
    const backend = app.get(QueueBackend);
    const stored = await backend.enqueue(newTaskRecord({ taskName: 'ghost.task', maxRetries: 3 }));
    await backend.notifyNewTask('default');
    const done = await app.get(QueueService).waitFor(stored.id, { timeout: 3_000, pollInterval: 20 });
    assert.equal(done.status, 'failed');
    assert.match(done.error ?? '', /Unknown task "ghost.task"/);
    await app.close();
  });

  test('stale running records are recovered through the retry policy', async () => {
    const app = await createQueuesApp([EchoTasks]);
    const backend = app.get(QueueBackend);
    // A record claimed by a worker that died: running with an old heartbeat, never touched again.
    const stored = await backend.enqueue(
      newTaskRecord({ taskName: 'echo', args: ['after-crash'], maxRetries: 1, queue: 'orphans' }),
    );
    const claimed = await backend.claimMany({ limit: 1, queues: ['orphans'], workerId: 'dead-worker' });
    assert.equal(claimed[0]?.id, stored.id);
    await backend.nullHeartbeats([{ id: stored.id, expectedRetryCount: 0 }]);
    const done = await app.get(QueueService).waitFor(stored.id, { timeout: 5_000, pollInterval: 20 });
    assert.equal(done.status, 'completed');
    assert.equal(done.retryCount, 1);
    assert.equal(done.result, 'after-crash');
    await app.close();
  });

  test('per-queue concurrency caps hold', async () => {
    let running = 0;
    let peak = 0;
    @Injectable()
    class Capped {
      @Task('capped.work', { queue: 'narrow' })
      async work() {
        running++;
        peak = Math.max(peak, running);
        await sleep(30);
        running--;
      }
    }
    const app = await createQueuesApp([Capped], {
      worker: { concurrency: 10, queues: ['narrow'], queueConcurrency: { narrow: 2 } },
    });
    const queues = app.get(QueueService);
    const records = await queues.enqueueMany(Array.from({ length: 8 }, () => ({ task: 'capped.work' })));
    for (const record of records) await queues.waitFor(record.id, { timeout: 5_000 });
    assert.equal(peak, 2);
    await app.close();
  });

  test('completions claim for the slots they free, never past the concurrency', async () => {
    let running = 0;
    let peak = 0;
    let calls = 0;
    @Injectable()
    class Mixed {
      @Task('mixed.work', { retries: 0 })
      async work(ms: number, fails: boolean) {
        calls++;
        running++;
        peak = Math.max(peak, running);
        await sleep(ms);
        running--;
        if (fails) throw new Error('planned');
      }
    }
    const app = await createQueuesApp([Mixed], { worker: { concurrency: 4, pollInterval: 5 } });
    const queues = app.get(QueueService);
    const records = await queues.enqueueMany(
      Array.from({ length: 120 }, (_, i) => ({ task: 'mixed.work', args: [i % 3, i % 7 === 0] })),
    );
    const final = [];
    for (const record of records) final.push(await queues.waitFor(record.id, { timeout: 10_000 }));
    assert.equal(peak, 4);
    assert.equal(calls, 120, 'every record ran exactly once');
    assert.equal(final.filter((r) => r.status === 'failed').length, 18);
    assert.equal(final.filter((r) => r.status === 'completed').length, 102);
    await app.close();
  });

  test('shutdown drains running tasks, then aborts the rest and releases them', async () => {
    const aborted: string[] = [];
    @Injectable()
    class Long {
      @Task('long.short') async short() {
        await sleep(50);
        return 'drained';
      }
      @Task('long.forever') async forever(@TaskCtx() ctx: TaskExecutionContext) {
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
        aborted.push(ctx.taskId);
      }
    }
    const app = await createQueuesApp([Long], { worker: { shutdownTimeout: 300 } });
    const queues = app.get(QueueService);
    const backend = app.get(QueueBackend);
    const short = await queues.enqueue('long.short');
    const forever = await queues.enqueue('long.forever');
    for (let i = 0; i < 100 && (await backend.getTask(forever.id))!.status !== 'running'; i++)
      await sleep(10);
    const started = Date.now();
    await app.get(QueueWorker).beforeApplicationShutdown();
    assert.ok(Date.now() - started < 300 + 1_000, 'shutdown took too long');
    assert.equal((await backend.getTask(short.id))!.status, 'completed');
    assert.deepEqual(aborted, [forever.id]);
    const released = (await backend.getTask(forever.id))!;
    assert.equal(released.status, 'running');
    assert.equal(released.heartbeatAt, null, 'heartbeat cleared so another worker can recover it at once');
    await app.close();
  });

  test('a claim stuck on a dead backend costs shutdown one shutdownTimeout, not one per shutdown hook', async () => {
    /** A backend whose claims never answer once `stuck` (a server gone with the command in its offline queue). */
    class StuckClaims extends InMemoryQueueBackend {
      stuck = false;
      override async claimMany(options: Parameters<InMemoryQueueBackend['claimMany']>[0]) {
        if (this.stuck) return new Promise<never>(() => undefined);
        return super.claimMany(options);
      }
    }
    const backend = new StuckClaims();
    const app = await createQueuesApp([], { queueBackend: backend, worker: { shutdownTimeout: 600 } });
    backend.stuck = true;
    await backend.notifyNewTask('default'); // the idle claim loop wakes and claims: it never comes back
    await sleep(50);
    const started = Date.now();
    await app.close(); // onModuleDestroy, then beforeApplicationShutdown: both wait for the claim loop
    const took = Date.now() - started;
    assert.ok(
      took >= 550,
      `close() took ${took} ms: it should have waited for the claim up to shutdownTimeout`,
    );
    assert.ok(took < 600 + 400, `close() took ${took} ms: the stuck claim was waited for twice`);
  });
});
