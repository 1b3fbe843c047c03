import type { InjectedTaskParam } from '../decorators/metadata-keys.js';
import type { ScheduleOptions } from '../options/schedule-options.js';
import type { TaskOptions } from '../options/task-options.js';

/** A task's options with defaults applied. */
export interface ResolvedTaskOptions
  extends
    Required<Pick<TaskOptions, 'queue' | 'priority' | 'retries' | 'quietSuccess' | 'requeueOnStale'>>,
    Omit<TaskOptions, 'queue' | 'priority' | 'retries' | 'quietSuccess' | 'requeueOnStale'> {}

/** A discovered task: where it lives and how it runs. */
export interface TaskDefinition {
  name: string;
  options: ResolvedTaskOptions;
  /** Schedules declared with `@Schedule` (in declaration order). */
  schedules: ScheduleOptions[];
  /** `ClassName.method`, for messages. */
  owner: string;
  /** Parameters filled by the runner, not by enqueued args. */
  injectedParams: InjectedTaskParam[];
  /** The bound method. */
  handler: (...args: unknown[]) => unknown;
}

/** Apply task defaults. */
export function resolveTaskOptions(options: TaskOptions): ResolvedTaskOptions {
  return {
    ...options,
    queue: options.queue ?? 'default',
    priority: options.priority ?? 0,
    retries: options.retries ?? 0,
    quietSuccess: options.quietSuccess ?? false,
    requeueOnStale: options.requeueOnStale ?? true,
  };
}
