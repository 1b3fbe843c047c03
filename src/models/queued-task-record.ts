import type { TaskStatus } from './task-status.js';

/**
 * One persisted request to run a task, with its lifecycle state.
 *
 * Records handed to callers are always copies: mutating one never changes storage.
 * All times are UTC `Date`s.
 */
export interface QueuedTaskRecord {
  /** Record id (UUID v4). */
  id: string;
  /** Registered task name, e.g. `files.process`. */
  taskName: string;
  /** Positional arguments, JSON values only. */
  args: unknown[];
  /** Keyword arguments, JSON values only. */
  kwargs: Record<string, unknown>;
  /** Queue the record waits in. */
  queue: string;
  /** Execution backend that runs the record (`local`, `immediate`, `cloudrun`, ...). */
  executionBackend: string;
  /** Execution profile (resolved by the execution backend, e.g. a Cloud Run job). */
  executionProfile: string | null;
  /** Reference of an external run (e.g. a Cloud Run execution name). */
  executionRef: string | null;
  /** Worker that claimed the record. */
  workerId: string | null;
  status: TaskStatus;
  /** Higher runs first; FIFO by `queuedAt` within one priority. */
  priority: number;
  /** Retries allowed after the first attempt. */
  maxRetries: number;
  /** Retries consumed so far; also the fence of every running write. */
  retryCount: number;
  /** When the record becomes due (`null`: due at once). */
  scheduledAt: Date | null;
  /** When the record joined the line; refreshed on every retry. */
  queuedAt: Date;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  heartbeatAt: Date | null;
  /** JSON result of a completed record. */
  result: unknown;
  /** Last failed attempt's error message; kept while a retry waits, cleared when the record completes. */
  error: string | null;
  /** Deduplication key: at most one non-terminal record holds a key. */
  key: string | null;
  /** Free JSON metadata (task description, schedule info, latest progress, ...). */
  metadata: Record<string, unknown>;
  /** Group (e.g. a tenant id) that `queues.<q>.groupConcurrency` caps and takes turns by; `null`: none. */
  group: string | null;
  /**
   * The flow parent of a child record (`QueueService.flow`), else `null`. Read from `metadata.flow.parent`, where
   * the library keeps a record's place in its flow (see `FlowLink`); absent on records built by hand.
   */
  parentId?: string | null;
}

/** Count of records per status. */
export interface QueueStatistics {
  pending: number;
  scheduled: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Flow parents waiting for their children. */
  waiting: number;
  total: number;
}

/** What one pass of stale-heartbeat recovery did. */
export interface StaleTaskRecoveryResult {
  /** Records put back in line (retry consumed). */
  requeued: QueuedTaskRecord[];
  /** Records failed with `Task heartbeat stale` (no retry left, or `requeueOnStale` false). */
  failed: QueuedTaskRecord[];
}

/** What a queue backend can do natively; the worker and service adapt to it. */
export interface QueueBackendCapabilities {
  /** Short backend name, e.g. `memory`, `typeorm:postgres`, `redis`, `valkey`. */
  name: string;
  /** Records survive a process restart. */
  durable: boolean;
  /** Several processes may share the backend. */
  shared: boolean;
  /** `waitForNotifications` wakes on new work from other processes. */
  notifications: boolean;
  /** `enqueueMany` uses a native bulk path. */
  bulkEnqueue: boolean;
  /** `enqueue` accepts a caller transaction (`{ manager }`). */
  transactionalEnqueue: boolean;
}

/** An empty statistics object. */
export function emptyStatistics(): QueueStatistics {
  return {
    pending: 0,
    scheduled: 0,
    running: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    waiting: 0,
    total: 0,
  };
}
