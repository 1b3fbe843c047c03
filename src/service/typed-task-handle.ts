import type { TaskExecutionContext } from '../context/task-execution-context.js';
import type { JobId } from '../decorators/job-id.decorator.js';
import { TASK_METADATA } from '../decorators/metadata-keys.js';
import type { TaskMetadata } from '../decorators/task.decorator.js';
import { NotATaskError } from '../errors/not-a-task.error.js';
import { QueueError } from '../errors/queue.error.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { EnqueueOptions, EnqueueSpec } from '../options/task-options.js';
import type { WaitForOptions } from './queue.service.js';

/** What a `TypedTaskHandle` needs from the service. */
export interface TypedTaskEnqueuer {
  enqueue(task: string, args?: unknown[], options?: EnqueueOptions): Promise<QueuedTaskRecord>;
  waitFor(id: string, options?: WaitForOptions): Promise<QueuedTaskRecord>;
}

/** Whether a parameter type is one the runner injects: `TaskExecutionContext` (exactly) or `JobId`. */
type IsInjected<T> = 0 extends 1 & T
  ? false // `any` is an argument: nothing says it is injected
  : [T] extends [JobId]
    ? true
    : [T] extends [TaskExecutionContext]
      ? [TaskExecutionContext] extends [T]
        ? true
        : false
      : false;

type DropTrailing<P extends unknown[]> = P extends [...infer Head, infer Last]
  ? IsInjected<Last> extends true
    ? DropTrailing<Head>
    : P
  : P;

type DropLeading<P extends unknown[]> = P extends [infer First, ...infer Rest]
  ? IsInjected<First> extends true
    ? DropLeading<Rest>
    : P
  : P;

/** Element by element; parameter names are lost, so it only serves injected parameters in the middle. */
type DropAll<P extends unknown[]> = P extends [infer First, ...infer Rest]
  ? IsInjected<First> extends true
    ? DropAll<Rest>
    : [First, ...DropAll<Rest>]
  : P;

type HasInjected<P extends unknown[]> = true extends { [K in keyof P]: IsInjected<P[K]> }[number]
  ? true
  : false;

type WithoutInjected<P extends unknown[]> =
  DropLeading<DropTrailing<P>> extends infer Kept extends unknown[]
    ? HasInjected<Kept> extends true
      ? DropAll<Kept>
      : Kept
    : never;

/**
 * The arguments a task method is enqueued with: its parameters minus those typed `TaskExecutionContext` or `JobId`
 * (the ones `@TaskCtx()` and `@JobId()` fill in), wherever they are.
 *
 * @example
 * ```ts
 * // process(fileId: string, retries: number, @TaskCtx() ctx: TaskExecutionContext)
 * type Args = TaskArgs<FilesService['process']>; // [fileId: string, retries: number]
 * ```
 */
export type TaskArgs<M> = M extends (...args: infer P) => unknown ? WithoutInjected<P> : never;

/** What a task method resolves to: the `result` of its completed record. */
export type TaskResult<M> = M extends (...args: never[]) => infer R ? Awaited<R> : never;

/** Names of the public methods of `T` (the candidates for `queues.task(Class, method)`). */
export type TaskMethodName<T> = {
  [K in keyof T]: T[K] extends (...args: never[]) => unknown ? K : never;
}[keyof T] &
  string;

/** A record whose `result` has the task method's type (null until it completes). */
export interface TypedTaskRecord<R> extends Omit<QueuedTaskRecord, 'result'> {
  /** JSON result of a completed record. */
  result: R | null;
}

/** Any class, abstract or not, whose instances are `T`. */
export type TaskClass<T> = abstract new (...args: never[]) => T;

/**
 * The name `@Task` registered for `type.prototype[method]`. Throws `NotATaskError` when that method has no
 * `@Task`.
 */
export function taskNameOf(type: TaskClass<object>, method: string): string {
  if (typeof type !== 'function' || typeof method !== 'string') {
    throw new QueueError(
      'queues.task expects a task name, or a class and the name of its @Task method: queues.task(FilesService, "process")',
    );
  }
  const metadata = Reflect.getMetadata(TASK_METADATA, type.prototype as object, method) as
    TaskMetadata | undefined;
  if (!metadata) throw new NotATaskError(type.name || 'anonymous class', method);
  return metadata.name;
}

/**
 * A task handle typed by its method: `enqueue` takes exactly the method's arguments (without the injected
 * context and job id) and `waitFor` resolves with a record whose `result` has the method's return type. Get one
 * with `queues.task(FilesService, 'process')`. Immutable: `using` returns a new handle.
 *
 * @example
 * ```ts
 * const process = queues.task(FilesService, 'process').using({ priority: 10 });
 * const record = await process.enqueue(fileId); // compile error on a wrong type or count
 * const done = await process.waitFor(record); // done.result: the awaited return type of process()
 * ```
 */
export class TypedTaskHandle<A extends unknown[], R> {
  constructor(
    private readonly enqueuer: TypedTaskEnqueuer,
    /** The task name, read from `@Task`. */
    readonly name: string,
    /** Options every enqueue through this handle uses. */
    readonly options: Readonly<EnqueueOptions> = {},
  ) {}

  /** A handle with `overrides` merged over this handle's options. */
  using(overrides: EnqueueOptions): TypedTaskHandle<A, R> {
    return new TypedTaskHandle<A, R>(this.enqueuer, this.name, { ...this.options, ...overrides });
  }

  /** Enqueue one record with the method's arguments (`QueueService.enqueue`'s semantics). */
  async enqueue(...args: A): Promise<TypedTaskRecord<R>> {
    return (await this.enqueuer.enqueue(this.name, args, { ...this.options })) as TypedTaskRecord<R>;
  }

  /** The spec of one record of this task, for `queues.enqueueMany([...])`. */
  spec(...args: A): EnqueueSpec {
    return { task: this.name, args, options: { ...this.options } };
  }

  /**
   * Resolve with the record once it is terminal (`QueueService.waitFor`). Rejects with a `QueueError` when the
   * record belongs to another task, since its result would not have this handle's type.
   */
  async waitFor(
    record: string | Pick<QueuedTaskRecord, 'id'>,
    options?: WaitForOptions,
  ): Promise<TypedTaskRecord<R>> {
    const id = typeof record === 'string' ? record : record.id;
    const terminal = await this.enqueuer.waitFor(id, options);
    if (terminal.taskName !== this.name) {
      throw new QueueError(
        `Record ${id} is a "${terminal.taskName}" task, not "${this.name}": wait for it through its own handle`,
        { taskId: id, taskName: terminal.taskName },
      );
    }
    return terminal as TypedTaskRecord<R>;
  }
}
