import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestingModule } from '@nestjs/testing';
import {
  JobId,
  NotATaskError,
  QueueService,
  Task,
  TaskCtx,
  UnknownTaskError,
  type TaskExecutionContext,
} from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';

@Injectable()
class ReportsService {
  @Task('typed.reports.build', { queue: 'reports' })
  async build(
    owner: string,
    pages: number[],
    @TaskCtx() ctx: TaskExecutionContext,
    @JobId() jobId: JobId,
  ): Promise<{ owner: string; total: number; sameId: boolean }> {
    return { owner, total: pages.reduce((a, b) => a + b, 0), sameId: jobId === ctx.taskId };
  }

  @Task('typed.reports.count')
  count(@JobId() jobId: JobId, word: string): number {
    return word.length + (jobId.length > 0 ? 0 : 1);
  }
}

/** Decorated like a task, but not a provider of the app. */
class NotRegistered {
  @Task('typed.not-registered')
  async run(value: string) {
    return value;
  }
}

describe('typed task handle (memory backend)', () => {
  let app: TestingModule;
  let queues: QueueService;
  before(async () => {
    app = await createQueuesApp([ReportsService]);
    queues = app.get(QueueService);
  });
  after(() => app.close());

  test('enqueues through queues.task(Class, method) and waits for the typed result', async () => {
    const build = queues.task(ReportsService, 'build');
    assert.equal(build.name, 'typed.reports.build');
    const record = await build.using({ priority: 3 }).enqueue('ada', [1, 2, 3]);
    assert.deepEqual(record.args, ['ada', [1, 2, 3]]);
    assert.equal(record.queue, 'reports');
    assert.equal(record.priority, 3);
    const done = await build.waitFor(record, { timeout: 5_000 });
    assert.equal(done.status, 'completed');
    // Typed: `total` is a number, `owner` a string; the injected context and job id were filled by the runner.
    const total: number = done.result!.total;
    assert.equal(total, 6);
    assert.deepEqual(done.result, { owner: 'ada', total: 6, sameId: true });
  });

  test('a leading @JobId parameter is left out of the arguments; spec() feeds enqueueMany', async () => {
    const count = queues.task(ReportsService, 'count');
    const [a, b] = await queues.enqueueMany([count.spec('four'), count.spec('seven!!')]);
    const results = await Promise.all([a!, b!].map((r) => count.waitFor(r.id, { timeout: 5_000 })));
    assert.deepEqual(
      results.map((r) => r.result),
      [4, 7],
    );
  });

  test('the string form still works next to the typed one', async () => {
    const record = await queues.task('typed.reports.count').enqueue('abc');
    assert.equal((await queues.waitFor(record.id, { timeout: 5_000 })).result, 3);
  });

  test('a method without @Task throws NotATaskError; a task whose provider is not in the app, UnknownTaskError', () => {
    assert.throws(
      // @ts-expect-error `constructor` is not a task method; the runtime check holds for untyped callers too
      () => queues.task(ReportsService, 'constructor'),
      NotATaskError,
    );
    assert.throws(() => queues.task(NotRegistered, 'run'), UnknownTaskError);
  });
});
