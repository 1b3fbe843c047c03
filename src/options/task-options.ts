import type { RetentionRule } from '../retention/retention-rule.js';

/** Backoff between retries: a fixed delay in ms, or exponential growth. */
export type RetryBackoff =
  | number
  | {
      /** First retry delay (ms). */
      initialDelay: number;
      /** Growth per retry. @default 2 */
      multiplier?: number;
      /** Cap (ms). @default no cap */
      maxDelay?: number;
      /** Random extra delay up to this many ms. @default 0 */
      jitter?: number;
    };

/** Options of `@Task(name, options)`. */
export interface TaskOptions {
  /** @default 'default' */
  queue?: string;
  /** Higher runs first. @default 0 */
  priority?: number;
  /** Retries after the first attempt. @default 0 */
  retries?: number;
  /** Delay before each retry. @default no delay */
  retryBackoff?: RetryBackoff;
  /** Attempt timeout in ms; a timed-out attempt fails (retryable). @default no timeout */
  timeout?: number;
  /** Execution backend name. @default the module's `executionBackend` */
  executionBackend?: string;
  /** Execution profile (e.g. a Cloud Run job). @default null */
  executionProfile?: string;
  /** Static deduplication key. @default none */
  key?: string;
  /** Human description, stored in record metadata. */
  description?: string;
  /**
   * Level of the task's start and success lines in the application log (Nest's `Logger`, context `Task`). Failed
   * attempts are always logged (a warning per retried attempt, an error when the record ends `failed`).
   * @default none: start and success are not logged
   */
  logLevel?: 'verbose' | 'debug' | 'log' | 'info' | 'warn' | 'error';
  /** No success line in the log; the `task.completed` event, metrics and the dashboard still see it. @default false */
  quietSuccess?: boolean;
  /** Requeue a stale record through the retry policy (false: fail it). @default true */
  requeueOnStale?: boolean;
  /**
   * What to keep of this task's completed records: `true` deletes each record as it completes (one DELETE on SQL;
   * `waitFor` still gets the result, see README "Retention"), `{ age?: ms, count?: n }` keeps at most that (the
   * cleanup loop enforces it per task name), `false` keeps them under `worker.cleanup.completed`.
   * @default false (kept 7 days)
   */
  removeOnComplete?: RetentionRule;
  /**
   * What to keep of this task's failed, cancelled and expired records: as `removeOnComplete`.
   * @default false (kept 30 days, `worker.cleanup.failed`)
   */
  removeOnFail?: RetentionRule;
  /**
   * Records of this task not started within this many ms of becoming due (enqueue, or `scheduledAt`) never run: they end `failed` with an
   * error saying they expired, and `task.expired` is published. @default none (records never expire)
   */
  expiresIn?: number;
}

/** Options of one enqueue; they never mix with task arguments. */
export interface EnqueueOptions {
  /** @default the task's queue */
  queue?: string;
  /** Integer; higher runs first. @default the task's priority */
  priority?: number;
  /** @default the task's retries */
  maxRetries?: number;
  /** Run at (or after) this time. */
  scheduledAt?: Date;
  /** Run after this many ms (non-negative). */
  delay?: number;
  /** Deduplication key. @default the task's key */
  key?: string;
  executionBackend?: string;
  executionProfile?: string;
  /** Free JSON metadata stored on the record. */
  metadata?: Record<string, unknown>;
  /** Keyword arguments, read by the task through `ctx.kwargs`. */
  kwargs?: Record<string, unknown>;
  /** No success line in the log for this record (see the task option). */
  quietSuccess?: boolean;
  /** Attempt timeout (ms) for this record. */
  timeout?: number;
  /**
   * Group of the record (e.g. a tenant id; 1-255 characters): `queues.<queue>.groupConcurrency` caps the records of
   * one group running at once, and groups take turns. Stored on the record (`record.group`). @default none
   */
  group?: string;
  /**
   * `true`: delete this record as it completes; `false`: keep it even if the task says `true`; `{ age?, count? }`:
   * keep it at most `age` ms after it completed, and, when it completes, keep at most the newest `count` completed
   * records of its task (README "Retention" has the exact rules). Stored with the record. @default the task's
   */
  removeOnComplete?: RetentionRule;
  /** As `removeOnComplete`, for the record ending failed, cancelled or expired. @default the task's */
  removeOnFail?: RetentionRule;
  /**
   * Not started within this many ms of becoming due (the enqueue, or `scheduledAt`/`delay`), the record never runs:
   * it ends `failed` (expired) and `task.expired` is published, by the expiry sweep of any worker process (every
   * `worker.staleCheckInterval`) even when no worker consumes its queue. @default the task's `expiresIn`
   */
  expiresIn?: number;
  /** As `expiresIn`, at a time (in the future, after `scheduledAt`). Give one of the two. */
  expiresAt?: Date;
  /** Backend-specific extra, e.g. `{ manager }` (TypeORM EntityManager) to enqueue inside a transaction. */
  manager?: unknown;
}

/** One entry of `enqueueMany`. */
export interface EnqueueSpec {
  task: string;
  args?: unknown[];
  options?: EnqueueOptions;
}
