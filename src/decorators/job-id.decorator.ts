import { markInjectedParam } from './task-ctx.decorator.js';

declare const jobIdBrand: unique symbol;

/**
 * The type of a `@JobId()` parameter: the running record's id, a `string` the typed task handle recognises, so the
 * parameter is left out of `queues.task(Class, 'method').enqueue(...)`'s arguments (like a `TaskExecutionContext`).
 * Use it wherever a string goes; a plain `string` works at runtime but then counts as an argument to the type checker.
 */
export type JobId = string & { readonly [jobIdBrand]: true };

/**
 * Inject the running record's id into this parameter; it is not part of the enqueued args. Type the parameter
 * `JobId` so the typed handle (`queues.task(FilesService, 'process')`) leaves it out too.
 *
 * @example
 * ```ts
 * @Task('files.process')
 * async process(fileId: string, @JobId() jobId: JobId) {}
 * ```
 */
export function JobId(): ParameterDecorator {
  return (target, propertyKey, index) => {
    if (propertyKey !== undefined) markInjectedParam(target, propertyKey, { index, kind: 'jobId' });
  };
}
