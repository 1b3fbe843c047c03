/**
 * The limits every user value is checked against before anything is written, in one place. They are what every
 * backend can store exactly (the SQL columns of `queue-task.entity.ts` are the narrowest: INTEGER and varchar
 * lengths), so a value is accepted or refused identically on memory, SQL and Redis. docs/limits.md lists them.
 */
export const VALUE_LIMITS = {
  /** Largest `priority`, `maxRetries` and `retries` (SQL INTEGER). */
  int32Max: 2_147_483_647,
  /** Smallest `priority` (SQL INTEGER). */
  int32Min: -2_147_483_648,
  /** Longest `key` (UTF-16 code units; the `task_key` column is varchar(255)). */
  keyLength: 255,
  /** Longest `executionProfile` (the `execution_profile` column is varchar(255)). */
  executionProfileLength: 255,
  /** Longest execution backend name (stored on every record; `execution_backend` is varchar(64)). */
  executionBackendLength: 64,
  /** Longest `worker.workerId` (stored on claimed records; `worker_id` is varchar(255)). */
  workerIdLength: 255,
  /** Longest task name (`task_name` is varchar(255); names are also Redis keys). */
  taskNameLength: 200,
  /** Longest `EnqueueOptions.group` (the `task_group` column is varchar(255)). */
  groupLength: 255,
  /** Largest `queues.<q>.concurrency` and `groupConcurrency`. */
  maxQueueConcurrency: 1_000_000,
  /**
   * Largest `queues.<q>.rateLimit.max`: the limiter keeps the last `max` start times (a ring of rows on SQL, a
   * sorted set on Redis), so `max` bounds what it stores per queue.
   */
  maxRateLimitMax: 100_000,
  /** Longest queue name (`queue` is varchar(100)). */
  queueLength: 100,
  /** Longest `@Schedule` key. */
  scheduleKeyLength: 100,
  /**
   * Longest duration of any delay, timeout, backoff, schedule interval, jitter or retention: ten years. Anything
   * longer is a mistake, and sums of two of them stay far inside `Date`'s range.
   */
  maxDurationMs: 10 * 365 * 24 * 3600 * 1000,
  /**
   * Longest worker interval (poll, heartbeat, stale check, reconcile, cleanup, shutdown timeout and `staleAfter`):
   * the largest delay one `setTimeout` takes (2^31 - 1 ms, about 24.8 days). Longer intervals are meaningless.
   */
  maxTimerMs: 2 ** 31 - 1,
  /** Shortest `@Schedule` interval (ms, an integer): shorter ones would chain occurrences without pause. */
  minScheduleIntervalMs: 10,
  /** Deepest nesting of arrays and objects in args, kwargs, metadata and results (the outer one counts). */
  jsonDepth: 256,
} as const;

// In `u` mode a surrogate pair reads as one code point, so only a lone half matches.
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Why `value` cannot be stored as text, or undefined when it can: a NUL character (PostgreSQL refuses it in text)
 * or a lone surrogate (UTF-8 stores replace it with U+FFFD, so `'x\uD800'` and `'x\uDC00'` would become one key).
 */
export function textProblem(value: string): string | undefined {
  if (value.includes('\0')) return 'must not contain a NUL character (\\u0000)';
  if (LONE_SURROGATE.test(value)) return 'must be well-formed Unicode (it has a lone surrogate)';
  return undefined;
}
