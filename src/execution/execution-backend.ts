import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { RunEnd, TaskRunner } from './task-runner.js';

/**
 * The worker's completion path: completions that arrive while one is being written are written together, with a
 * claim for the slots they free, in one backend call (one round trip, one commit).
 */
export interface CompletionBatch {
  /** Persist a success (fenced by the record's retry count); `false` when the fence rejected it. */
  complete(record: QueuedTaskRecord, result: unknown): Promise<boolean>;
  /**
   * `complete` with callbacks instead of a promise (one call of one of them; neither may throw). The runner uses it
   * when present: a promise per task is a promise-hook call per task on Node 20.
   */
  completeThen?(
    record: QueuedTaskRecord,
    result: unknown,
    written: (applied: boolean) => void,
    failed: (error: unknown) => void,
  ): void;
}

/** Options of `ExecutionBackend.execute`. */
export interface ExecuteOptions {
  /** Worker that claimed the record. */
  workerId: string;
  /** Aborts the run (shutdown, cancellation); the backend passes it to the task. */
  signal?: AbortSignal;
  /** Write the completion through the worker's batch (in-process backends pass it to the runner). */
  completions?: CompletionBatch;
}

/**
 * Where a claimed record runs. In-process backends (`local`, `immediate`) run it through the `TaskRunner`;
 * external backends (`cloudrun`) `dispatch` it and later `reconcile` its state.
 */
export abstract class ExecutionBackend {
  /** Short name, stored on records as `executionBackend`. */
  abstract readonly name: string;
  /** True when records run outside this process (dispatch + reconcile instead of execute). */
  abstract readonly isExternal: boolean;

  /** Open clients. Idempotent. */
  async open(): Promise<void> {}
  /** Close what `open` created. */
  async close(): Promise<void> {}

  /**
   * Why this backend cannot run records of `taskName` with `executionProfile` (a configuration problem), or
   * `undefined` when it can. Checked for every `@Task` at bootstrap and for every enqueue; the default accepts all.
   */
  configurationProblem(_target: Pick<QueuedTaskRecord, 'executionProfile' | 'taskName'>): string | undefined {
    return undefined;
  }

  /** Run a claimed (running) record in this process and persist its outcome; returns the final record. */
  abstract execute(
    runner: TaskRunner,
    record: QueuedTaskRecord,
    options: ExecuteOptions,
  ): Promise<QueuedTaskRecord | null>;

  /**
   * `execute`, reporting the end to `end` instead of a promise: the worker launches records through this. The
   * in-process backends run the record with `TaskRunner.start`, which makes no promise of its own on the common path.
   */
  launch(runner: TaskRunner, record: QueuedTaskRecord, options: ExecuteOptions, end: RunEnd): void {
    let running: Promise<QueuedTaskRecord | null>;
    try {
      running = this.execute(runner, record, options);
    } catch (error) {
      return end.crashed(error);
    }
    running.then(
      (final) => end.ended(final),
      (error: unknown) => end.crashed(error),
    );
  }

  /**
   * Called by `QueueService` right after a record of this backend is persisted. The default does nothing and
   * returns the record; `immediate` runs it to completion here.
   */
  async onEnqueued(_runner: TaskRunner, record: QueuedTaskRecord): Promise<QueuedTaskRecord> {
    return record;
  }

  /** Hand a record to an external executor; returns its reference, or `null` when not dispatched. */
  async dispatch(_runner: TaskRunner, _record: QueuedTaskRecord): Promise<string | null> {
    return null;
  }

  /** Bring an externally running record's state up to date; returns the updated record or `null`. */
  async reconcile(_runner: TaskRunner, _record: QueuedTaskRecord): Promise<QueuedTaskRecord | null> {
    return null;
  }

  /** Cancel an external run; true when the executor accepted the cancellation. */
  async cancel(_runner: TaskRunner, _record: QueuedTaskRecord): Promise<boolean> {
    return false;
  }
}
