import 'reflect-metadata';
import { Controller, Get, Inject, Injectable, Module, type DynamicModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ExecutionBackends,
  QUEUES_MODULE_OPTIONS,
  QueueBackend,
  QueueEvents,
  QueueMetrics,
  QueueService,
  QueueTelemetry,
  QueueWorker,
  QueuesHealth,
  QueuesModule,
  ScheduleRegistry,
  Task,
  TaskRegistry,
  TaskRunner,
  type QueuesModuleOptions,
} from '../../src/index.js';
import { fastWorker } from '../support/app.js';

// Every class the docs (README.md, docs/*.md) show in a user's constructor, plus the rest of the module's public
// providers, injected by type alone the way a user writes it: in a provider and a controller of the user's own
// module. `app.get(QueueMetrics)` is not enough: it finds providers that are not exported.

@Injectable()
class UserTasks {
  @Task('injection.echo')
  async echo(value: unknown) {
    return value;
  }
}

@Injectable()
class UserService {
  constructor(
    readonly queues: QueueService,
    readonly worker: QueueWorker,
    readonly events: QueueEvents,
    readonly metrics: QueueMetrics,
    readonly health: QueuesHealth,
    readonly tasks: TaskRegistry,
    readonly schedules: ScheduleRegistry,
    readonly backend: QueueBackend,
    readonly telemetry: QueueTelemetry,
    readonly executionBackends: ExecutionBackends,
    readonly runner: TaskRunner,
    @Inject(QUEUES_MODULE_OPTIONS) readonly options: QueuesModuleOptions,
  ) {}
}

/** As in docs/observability.md (the Prometheus and terminus controllers). */
@Controller('ops')
class OpsController {
  constructor(
    readonly metrics: QueueMetrics,
    readonly health: QueuesHealth,
  ) {}

  @Get('metrics')
  render(): string {
    return this.metrics.render();
  }
}

function userModule(queues: DynamicModule): DynamicModule {
  @Module({ imports: [queues], providers: [UserTasks, UserService], controllers: [OpsController] })
  class UserModule {}
  return { module: UserModule };
}

async function bootAndCheck(queues: DynamicModule): Promise<void> {
  const moduleRef = await Test.createTestingModule({ imports: [userModule(queues)] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  try {
    const user = app.get(UserService);
    const expected: Array<[unknown, abstract new (...args: never[]) => unknown]> = [
      [user.queues, QueueService],
      [user.worker, QueueWorker],
      [user.events, QueueEvents],
      [user.metrics, QueueMetrics],
      [user.health, QueuesHealth],
      [user.tasks, TaskRegistry],
      [user.schedules, ScheduleRegistry],
      [user.backend, QueueBackend],
      [user.telemetry, QueueTelemetry],
      [user.executionBackends, ExecutionBackends],
      [user.runner, TaskRunner],
    ];
    for (const [value, type] of expected) assert.ok(value instanceof type, `${type.name} injected`);
    assert.equal(user.options.worker?.concurrency, 2);
    // The injected instances are the module's own, and they work.
    const handle = await user.queues.enqueue('injection.echo', ['hi']);
    const done = await user.queues.waitFor(handle.id, { timeout: 5_000 });
    assert.equal(done.result, 'hi');
    // waitFor reads the store, which the completion reaches a moment before the runner counts it.
    for (let i = 0; i < 100 && !/event="completed"/.test(user.metrics.render()); i++) await sleep(10);
    assert.match(user.metrics.render(), /event="completed"/);
    assert.equal((await user.health.check()).healthy, true);
    assert.ok(user.tasks.get('injection.echo'));
    const ops = app.get(OpsController);
    assert.equal(ops.metrics, user.metrics);
    assert.equal(ops.health, user.health);
  } finally {
    await app.close();
  }
}

describe('public providers injected by constructor in a user module', () => {
  const options: QueuesModuleOptions = { worker: { ...fastWorker, concurrency: 2 } };

  test('QueuesModule.forRoot (global, the default)', async () => {
    await bootAndCheck(QueuesModule.forRoot(options));
  });

  test('QueuesModule.forRoot({ isGlobal: false }) imported by the user module', async () => {
    await bootAndCheck(QueuesModule.forRoot({ ...options, isGlobal: false }));
  });

  test('QueuesModule.forRootAsync', async () => {
    await bootAndCheck(QueuesModule.forRootAsync({ useFactory: () => options }));
  });
});
