import type { TaskOptions } from '../options/task-options.js';
import { TASK_METADATA } from './metadata-keys.js';

/** Metadata stored by `@Task`. */
export interface TaskMetadata {
  name: string;
  options: TaskOptions;
}

/**
 * Register a provider method as a task under a unique name.
 *
 * @example
 * ```ts
 * @Task('files.process', { queue: 'files', retries: 3 })
 * async process(fileId: string, @TaskCtx() ctx: TaskExecutionContext) {}
 * ```
 */
export function Task(name: string, options: TaskOptions = {}): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    Reflect.defineMetadata(TASK_METADATA, { name, options } satisfies TaskMetadata, target, propertyKey);
    return descriptor;
  };
}
