// Type tests for `queues.task(Class, 'method')`: this file is compiled by the test build (`tsc -p tsconfig.json`),
// so every `@ts-expect-error` below must meet a real compile error, and every `Expect<Equal<…>>` must hold, or the
// build fails. The runtime tests at the end cover what the types cannot: names read from `@Task`, typed errors.
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  JobId,
  NotATaskError,
  QueueError,
  QueueService,
  Task,
  TaskCtx,
  TypedTaskHandle,
  type QueuedTaskRecord,
  type TaskArgs,
  type TaskExecutionContext,
  type TaskResult,
  type TypedTaskRecord,
} from '../../../src/index.js';

type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

@Injectable()
class FilesService {
  readonly notAMethod = 1;

  @Task('typed.files.process')
  async process(fileId: string, retries: number, @TaskCtx() ctx: TaskExecutionContext) {
    return { fileId, retries, attempt: ctx.attempt };
  }

  @Task('typed.files.leading')
  leading(@JobId() jobId: JobId, @TaskCtx() ctx: TaskExecutionContext, name: string): string {
    return `${jobId}:${ctx.taskName}:${name}`;
  }

  @Task('typed.files.middle')
  async middle(a: string, @TaskCtx() ctx: TaskExecutionContext, b: number) {
    return `${a}${b}${ctx.attempt}`;
  }

  @Task('typed.files.optional')
  async optional(a: string, b?: number): Promise<number> {
    return a.length + (b ?? 0);
  }

  @Task('typed.files.none')
  async none(@TaskCtx() ctx: TaskExecutionContext): Promise<void> {
    void ctx;
  }

  /** A `string` job id is an argument to the type checker (documented): type it `JobId`. */
  @Task('typed.files.plain-job-id')
  async plainJobId(@JobId() jobId: string) {
    return jobId;
  }

  helper(value: number) {
    return value;
  }
}

// --- what the handle's types are made of
type _args = [
  Expect<Equal<TaskArgs<FilesService['process']>, [fileId: string, retries: number]>>,
  Expect<Equal<TaskArgs<FilesService['leading']>, [name: string]>>,
  Expect<Equal<TaskArgs<FilesService['middle']>, [string, number]>>,
  Expect<Equal<TaskArgs<FilesService['optional']>, [a: string, b?: number]>>,
  Expect<Equal<TaskArgs<FilesService['none']>, []>>,
  Expect<Equal<TaskArgs<FilesService['plainJobId']>, [jobId: string]>>,
  Expect<Equal<TaskResult<FilesService['process']>, { fileId: string; retries: number; attempt: number }>>,
  Expect<Equal<TaskResult<FilesService['leading']>, string>>,
  Expect<Equal<TaskResult<FilesService['none']>, void>>,
];

/** Never called: it exists to be type-checked. */
export async function typeChecks(queues: QueueService): Promise<void> {
  const process = queues.task(FilesService, 'process');
  const record = await process.enqueue('file-1', 3);
  const done = await process.waitFor(record);
  const result = done.result!;
  const fileId: string = result.fileId;
  const retries: number = result.retries;
  (void fileId, retries);
  type _record = Expect<
    Equal<typeof done, TypedTaskRecord<{ fileId: string; retries: number; attempt: number }>>
  >;
  // A typed record is still a QueuedTaskRecord.
  const plain: QueuedTaskRecord = done;
  void plain;

  // @ts-expect-error wrong argument type (number for fileId)
  await process.enqueue(1, 3);
  // @ts-expect-error wrong argument type (string for retries)
  await process.enqueue('file-1', '3');
  // @ts-expect-error too few arguments
  await process.enqueue('file-1');
  // @ts-expect-error too many arguments: the context is injected, not passed
  await process.enqueue('file-1', 3, {} as TaskExecutionContext);
  // @ts-expect-error the result is an object, not a number
  const wrongResult: number = done.result!;
  // @ts-expect-error the result has no such field
  void done.result?.size;
  // @ts-expect-error result may be null until the record completes
  void done.result.fileId;
  void wrongResult;

  // using() keeps the types
  // @ts-expect-error wrong argument type through using()
  await process.using({ priority: 5 }).enqueue(1, 3);
  await process.using({ priority: 5 }).enqueue('file-2', 1);

  // spec() for enqueueMany keeps the types
  await queues.enqueueMany([process.spec('file-3', 0), queues.task(FilesService, 'optional').spec('a')]);
  // @ts-expect-error wrong count in spec()
  process.spec('file-3');

  // leading and middle injected parameters
  await queues.task(FilesService, 'leading').enqueue('name');
  // @ts-expect-error the job id is injected, not passed
  await queues.task(FilesService, 'leading').enqueue('job-id' as JobId, 'name');
  await queues.task(FilesService, 'middle').enqueue('a', 1);
  // @ts-expect-error wrong order
  await queues.task(FilesService, 'middle').enqueue(1, 'a');

  // optional parameters stay optional
  await queues.task(FilesService, 'optional').enqueue('a');
  await queues.task(FilesService, 'optional').enqueue('a', 2);
  // @ts-expect-error wrong optional type
  await queues.task(FilesService, 'optional').enqueue('a', '2');
  const sum = (await queues.task(FilesService, 'optional').waitFor('id')).result;
  type _sum = Expect<Equal<typeof sum, number | null>>;

  // no arguments at all
  await queues.task(FilesService, 'none').enqueue();
  // @ts-expect-error none takes no arguments
  await queues.task(FilesService, 'none').enqueue('x');

  // only method names are accepted
  // @ts-expect-error not a method of FilesService
  queues.task(FilesService, 'missing');
  // @ts-expect-error a property, not a method
  queues.task(FilesService, 'notAMethod');

  // the string form is unchanged and unchecked
  await queues.task('typed.files.process').enqueue(1, 2, 3);
  await queues.task('typed.files.process').using({ priority: 1 }).enqueue('file-1', 3);
}

describe('typed task handle', () => {
  const fakeService = (records: Map<string, QueuedTaskRecord>) => ({
    enqueued: [] as Array<{ task: string; args: unknown[] | undefined; options: unknown }>,
    async enqueue(task: string, args?: unknown[], options?: unknown) {
      this.enqueued.push({ task, args, options });
      return { id: 'r1', taskName: task } as QueuedTaskRecord;
    },
    async waitFor(id: string) {
      return records.get(id)!;
    },
  });

  test('enqueue passes the arguments and the handle options to the service', async () => {
    const service = fakeService(new Map());
    const handle = new TypedTaskHandle<[string, number], string>(service, 'typed.files.process', {
      queue: 'a',
    });
    await handle.using({ priority: 7 }).enqueue('f', 2);
    assert.deepEqual(service.enqueued, [
      { task: 'typed.files.process', args: ['f', 2], options: { queue: 'a', priority: 7 } },
    ]);
    assert.deepEqual(handle.options, { queue: 'a' }, 'using() returns a new handle');
    assert.deepEqual(handle.spec('g', 1), {
      task: 'typed.files.process',
      args: ['g', 1],
      options: { queue: 'a' },
    });
  });

  test('waitFor refuses a record of another task, whose result would not have this type', async () => {
    const records = new Map([
      ['mine', { id: 'mine', taskName: 'typed.files.process', result: 'ok' } as QueuedTaskRecord],
      ['other', { id: 'other', taskName: 'typed.files.none', result: null } as QueuedTaskRecord],
    ]);
    const handle = new TypedTaskHandle<[], string>(fakeService(records), 'typed.files.process');
    assert.equal((await handle.waitFor({ id: 'mine' })).result, 'ok');
    await assert.rejects(
      handle.waitFor('other'),
      (error: unknown) =>
        error instanceof QueueError &&
        /"typed\.files\.none" task, not "typed\.files\.process"/.test(error.message),
    );
  });

  test('a method without @Task is a NotATaskError naming Class.method', () => {
    const service = Object.create(QueueService.prototype) as QueueService;
    assert.throws(
      () => service.task(FilesService, 'helper'),
      (error: unknown) =>
        error instanceof NotATaskError &&
        error.owner === 'FilesService.helper' &&
        /FilesService\.helper is not a task: decorate it with @Task/.test(error.message),
    );
  });
});
