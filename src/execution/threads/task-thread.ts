import { Worker } from 'node:worker_threads';
import type { TaskExecutionContext } from '../../context/task-execution-context.js';
import { TaskThreadCrashedError } from '../../errors/task-thread-crashed.error.js';
import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { describeError } from '../describe-error.js';
import {
  deserializeError,
  serializeError,
  type FromThread,
  type TaskThreadData,
  type ToThread,
} from './thread-messages.js';
import type { ResolvedThreadsConfig } from './threads-execution.config.js';

/** The run a thread is busy with. */
interface ThreadRun {
  record: QueuedTaskRecord;
  context: TaskExecutionContext;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** Forwarded context calls still being handled: the outcome waits for them (their events come first). */
  calls: Set<Promise<void>>;
}

/**
 * One worker thread, seen from the main thread: boots the app module, runs one record at a time, forwards the task's
 * context calls to the run context, passes an abort on, and turns the thread's death into a `TaskThreadCrashedError`
 * for the run it was busy with.
 */
export class TaskThread {
  /** Settles when the module has booted; rejects when the thread died or timed out before that. */
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private run_: ThreadRun | undefined;
  /** The context of the last run, for calls its method left floating. */
  private lastContext: TaskExecutionContext | undefined;
  private exited = false;
  /** The error that killed the thread (an uncaught exception, out of memory), reported with its exit. */
  private fatal: unknown;
  /** Why the main thread terminated it, if it did. */
  private terminatedBecause: string | undefined;
  private settleReady!: { resolve: () => void; reject: (error: unknown) => void };

  constructor(
    private readonly config: ResolvedThreadsConfig,
    /** Called once, when the thread has exited (for any reason). */
    private readonly onExit: (thread: TaskThread) => void,
  ) {
    const data: TaskThreadData = {
      'nestjs-queues:task-thread': true,
      moduleUrl: config.moduleUrl,
      exportName: config.exportName,
      logLevels: config.logLevels,
    };
    this.worker = new Worker(new URL('./task-thread.main.js', import.meta.url), {
      workerData: data,
      resourceLimits: config.resourceLimits,
    });
    this.threadId = this.worker.threadId;
    this.ready = new Promise<void>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => undefined); // a boot failure is reported to the run that waits for it, if any
    const bootTimer = setTimeout(
      () => this.terminate(`did not boot the module within ${config.bootTimeout} ms`),
      config.bootTimeout,
    );
    void this.ready.then(
      () => clearTimeout(bootTimer),
      () => clearTimeout(bootTimer),
    );
    this.worker.on('message', (message: FromThread) => this.onMessage(message));
    this.worker.on('error', (error) => (this.fatal ??= error));
    this.worker.on('exit', (code) => this.onExited(code));
  }

  /** The thread's id (`threadId` inside it), kept after it exited. */
  readonly threadId: number;

  get alive(): boolean {
    return !this.exited;
  }

  /**
   * Run `record` on this (booted, idle) thread; settles with the method's result or error, or a
   * `TaskThreadCrashedError` when the thread dies. An abort of `signal` is passed to the thread (its `ctx.signal`
   * fires); a thread that has not settled `abortGrace` ms later is terminated.
   */
  run(record: QueuedTaskRecord, context: TaskExecutionContext, signal: AbortSignal): Promise<unknown> {
    let graceTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      this.post({ kind: 'abort', reason: serializeError(signal.reason) });
      graceTimer = setTimeout(
        () => this.terminate(`did not stop within ${this.config.abortGrace} ms of its abort`),
        this.config.abortGrace,
      );
    };
    const settled = new Promise<unknown>((resolve, reject) => {
      this.run_ = { record, context, resolve, reject, calls: new Set() };
      this.post({ kind: 'run', record });
    });
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => {
      clearTimeout(graceTimer);
      signal.removeEventListener('abort', onAbort);
    };
    settled.then(cleanup, cleanup);
    return settled;
  }

  /** Ask the thread to close its app context and end; terminate it if it has not within `timeout` ms. */
  async close(timeout: number): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.post({ kind: 'close' });
    const timer = setTimeout(() => this.terminate('did not close in time'), timeout);
    await exited;
    clearTimeout(timer);
  }

  /** Stop the thread now (a loop that never yields cannot be asked). */
  terminate(because: string): void {
    if (this.exited) return;
    this.terminatedBecause ??= because;
    void this.worker.terminate();
  }

  private post(message: ToThread): void {
    if (!this.exited) this.worker.postMessage(message);
  }

  private onMessage(message: FromThread): void {
    switch (message.kind) {
      case 'ready':
        this.settleReady.resolve();
        break;
      case 'boot-failed':
        this.fatal = deserializeError(message.error);
        this.settleReady.reject(
          new TaskThreadCrashedError(
            `Task thread could not boot ${this.config.moduleUrl}#${this.config.exportName}: ${describeError(this.fatal)}`,
            { cause: this.fatal },
          ),
        );
        this.terminate('failed to boot');
        break;
      case 'call':
        this.onCall(message.callId, message.method, message.args);
        break;
      case 'done': {
        const run = this.run_;
        if (!run) break;
        this.run_ = undefined;
        this.lastContext = run.context;
        const outcome = message;
        // Events the task published go out before its outcome, as they do in one thread.
        void Promise.allSettled([...run.calls]).then(() => {
          if (outcome.ok) run.resolve(outcome.value);
          else
            run.reject(
              deserializeError(outcome.error, { taskId: run.record.id, taskName: run.record.taskName }),
            );
        });
        break;
      }
    }
  }

  private onCall(callId: number, method: 'progress' | 'log' | 'event', args: unknown[]): void {
    const run = this.run_;
    // A call left floating after the method returned (a timer that reports late) goes to the context of the run it
    // came from, as it would in one thread; it must not fail, since a rejection nobody awaits would end the thread.
    const context = run?.context ?? this.lastContext;
    if (!context) return this.post({ kind: 'reply', callId });
    const call = (context[method] as (...a: unknown[]) => Promise<void>)(...args).then(
      () => this.post({ kind: 'reply', callId }),
      (error: unknown) => this.post({ kind: 'reply', callId, error: serializeError(error) }),
    );
    if (!run) return;
    run.calls.add(call);
    void call.finally(() => run.calls.delete(call));
  }

  private onExited(code: number): void {
    this.exited = true;
    const cause = this.fatal;
    const why = this.terminatedBecause
      ? `was terminated: it ${this.terminatedBecause}`
      : cause !== undefined
        ? `died: ${describeCrash(cause)}`
        : `exited with code ${code}`;
    this.settleReady.reject(
      new TaskThreadCrashedError(`Task thread ${this.threadId} ${why} before it was ready`, {
        exitCode: code,
        cause,
      }),
    );
    const run = this.run_;
    this.run_ = undefined;
    run?.reject(
      new TaskThreadCrashedError(
        `Task thread ${this.threadId} running "${run.record.taskName}" (${run.record.id}) ${why}`,
        { taskName: run.record.taskName, taskId: run.record.id, exitCode: code, cause },
      ),
    );
    this.onExit(this);
  }
}

function describeCrash(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_WORKER_OUT_OF_MEMORY') return `it ran out of memory (${describeError(error)})`;
  return `uncaught ${describeError(error)}`;
}
