import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { MissingDependencyError } from '../../errors/missing-dependency.error.js';
import { QueueConfigurationError } from '../../errors/queue-configuration.error.js';
import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { describeError } from '../describe-error.js';
import { ExecutionBackend, type ExecuteOptions } from '../execution-backend.js';
import type { TaskRunner } from '../task-runner.js';
import type { CloudRunExecutionConfig } from './cloudrun-execution.config.js';
import { executionOutcome } from './cloudrun-execution-status.js';

interface JobsClientLike {
  runJob(request: unknown): Promise<[{ name?: string; metadata?: { name?: string } | null }, ...unknown[]]>;
  close?(): Promise<void>;
}
interface ExecutionsClientLike {
  getExecution(request: { name: string }): Promise<[Record<string, unknown>, ...unknown[]]>;
  cancelExecution(request: { name: string }): Promise<unknown>;
  close?(): Promise<void>;
}

const NOT_FOUND = 5;
/** Default of `timeoutGrace`: time for the job container to boot the app and write the outcome. */
const DEFAULT_TIMEOUT_GRACE = 60_000;
const RESERVING = 'reserving:';
/** The longest execution (task) timeout Cloud Run Jobs accept: 168 hours. */
export const MAX_EXECUTION_TIMEOUT_MS = 168 * 3_600_000;

/**
 * Runs records as Google Cloud Run Jobs executions. Dispatch reserves the pending record (compare-and-swap on its
 * execution ref), runs the job with only the record id in the environment, and stores the execution name; the job
 * container (`nestjs-queues run-task`) claims, heartbeats and finishes the record. Reconcile maps the execution's
 * state back onto the record through fenced writes; API errors other than NotFound count as still running. If
 * the RunJob call fails before a remote execution owns the record, it moves to the fallback backend.
 */
export class CloudRunExecutionBackend extends ExecutionBackend {
  readonly name: string = 'cloudrun';
  readonly isExternal = true;
  private readonly logger = new Logger(CloudRunExecutionBackend.name);
  private jobs: JobsClientLike | undefined;
  private executions: ExecutionsClientLike | undefined;
  private ownsClients = false;

  constructor(private readonly config: CloudRunExecutionConfig) {
    super();
    const problems = [];
    if (!config.projectId) problems.push({ path: 'executionBackend.projectId', message: 'is required' });
    if (!config.jobName && !Object.keys(config.profiles ?? {}).length) {
      problems.push({ path: 'executionBackend.jobName', message: 'give jobName or profiles' });
    }
    for (const option of ['timeout', 'timeoutGrace'] as const) {
      const value = config[option];
      if (value !== undefined && !(Number.isInteger(value) && value > 0 && value <= MAX_EXECUTION_TIMEOUT_MS))
        problems.push({
          path: `executionBackend.${option}`,
          message: `must be a whole number of ms from 1 to ${MAX_EXECUTION_TIMEOUT_MS} (Cloud Run's ${MAX_EXECUTION_TIMEOUT_MS / 3_600_000} h); got ${String(value)}`,
        });
    }
    if (problems.length) throw new QueueConfigurationError(problems);
  }

  override async open(): Promise<void> {
    if (this.jobs) return;
    if (this.config.jobsClient && this.config.executionsClient) {
      this.jobs = this.config.jobsClient as JobsClientLike;
      this.executions = this.config.executionsClient as ExecutionsClientLike;
      return;
    }
    let run: typeof import('@google-cloud/run');
    try {
      run = await import('@google-cloud/run');
    } catch (error) {
      throw new MissingDependencyError('@google-cloud/run', 'The cloudrun execution backend', error);
    }
    this.jobs =
      (this.config.jobsClient as JobsClientLike) ??
      (new run.v2.JobsClient(this.config.clientOptions as never) as unknown as JobsClientLike);
    this.executions =
      (this.config.executionsClient as ExecutionsClientLike) ??
      (new run.v2.ExecutionsClient(this.config.clientOptions as never) as unknown as ExecutionsClientLike);
    this.ownsClients = true;
  }

  override async close(): Promise<void> {
    if (this.ownsClients) {
      await this.jobs?.close?.().catch(() => undefined);
      await this.executions?.close?.().catch(() => undefined);
    }
    this.jobs = undefined;
    this.executions = undefined;
  }

  /** A record of ours claimed by an in-process worker runs here (only after a fallback move, normally). */
  execute(
    runner: TaskRunner,
    record: QueuedTaskRecord,
    options: ExecuteOptions,
  ): Promise<QueuedTaskRecord | null> {
    return runner.run(record, options);
  }

  /** The full job resource name for a record's profile; throws `QueueConfigurationError` when none is configured. */
  jobFor(record: Pick<QueuedTaskRecord, 'executionProfile' | 'taskName'>): string {
    const problem = this.configurationProblem(record);
    if (problem) {
      throw new QueueConfigurationError([{ path: 'executionBackend.profiles', message: problem }], {
        taskName: record.taskName,
      });
    }
    const job = (
      record.executionProfile ? this.config.profiles?.[record.executionProfile] : this.config.jobName
    )!;
    return job.startsWith('projects/')
      ? job
      : `projects/${this.config.projectId}/locations/${this.config.region ?? 'us-central1'}/jobs/${job}`;
  }

  /** A profile with no job (or no profile and no `jobName`) cannot run here: bootstrap and enqueue refuse it. */
  override configurationProblem(
    target: Pick<QueuedTaskRecord, 'executionProfile' | 'taskName'>,
  ): string | undefined {
    const profile = target.executionProfile;
    if (profile ? Object.hasOwn(this.config.profiles ?? {}, profile) : this.config.jobName) return undefined;
    const known = Object.keys(this.config.profiles ?? {});
    return profile
      ? `no job for profile "${profile}" (task ${target.taskName}); profiles: ${known.join(', ') || 'none'}`
      : `no jobName for task ${target.taskName} without a profile`;
  }

  /**
   * The execution's timeout in seconds: the attempt's own timeout (record, else task) plus `timeoutGrace` for the
   * container to boot and write the outcome, so the task's timeout fires first and the record says why; without
   * one, the configured `timeout`; without that, the job's own.
   */
  private executionTimeoutSeconds(runner: TaskRunner, record: QueuedTaskRecord): number | undefined {
    const definition = runner.tasks.find(record.taskName);
    const attempt = definition ? runner.timeoutOf(record, definition) : undefined;
    const timeout =
      attempt !== undefined
        ? attempt + (this.config.timeoutGrace ?? DEFAULT_TIMEOUT_GRACE)
        : this.config.timeout;
    // A task may wait longer than Cloud Run lets an execution run: the override is capped at Cloud Run's maximum,
    // where the execution ends (and reconcile fails or retries the record) before the task's own timeout.
    return timeout ? Math.ceil(Math.min(timeout, MAX_EXECUTION_TIMEOUT_MS) / 1000) : undefined;
  }

  private environment(taskId: string): Array<{ name: string; value: string }> {
    const idName = `${this.config.envPrefix ?? 'NESTJS_QUEUES'}_TASK_ID`;
    const extra = Object.entries(this.config.extraEnv ?? {}).filter(([name]) => name !== idName);
    return [...extra.map(([name, value]) => ({ name, value })), { name: idName, value: taskId }];
  }

  override async dispatch(runner: TaskRunner, record: QueuedTaskRecord): Promise<string | null> {
    const backend = runner.backend;
    const problem = this.configurationProblem(record);
    if (problem) return this.failUnrunnable(runner, record, problem);
    const job = this.jobFor(record);
    const token = `${RESERVING}${randomUUID()}:${Date.now()}`;
    const reserved = await backend.setExecutionRef(record.id, token, {
      expectedRef: null,
      expectedRetryCount: record.retryCount,
    });
    if (!reserved || reserved.status === 'running') return null; // another dispatcher has it, or it moved on
    let executionName: string;
    try {
      const seconds = this.executionTimeoutSeconds(runner, record);
      const [operation] = await this.jobs!.runJob({
        name: job,
        overrides: {
          containerOverrides: [{ env: this.environment(record.id) }],
          ...(seconds ? { timeout: { seconds } } : {}),
        },
      });
      executionName = operation.metadata?.name ?? operation.name ?? '';
      if (!executionName) throw new Error('RunJob returned no execution name');
    } catch (error) {
      // No remote execution owns the record: hand it to the fallback backend (this also drops the reservation).
      const fallback = this.config.fallbackExecutionBackend ?? 'local';
      this.logger.warn(
        `RunJob for ${record.id} failed (${describeError(error)}); falling back to ${fallback}`,
      );
      await backend.setExecutionBackend(record.id, fallback, { expectedRetryCount: record.retryCount });
      await backend.notifyNewTask(record.queue).catch(() => undefined);
      return null;
    }
    const stored = await backend.setExecutionRef(record.id, executionName, { expectedRef: token });
    if (!stored) {
      // The record was cancelled or changed while we dispatched: stop the run we just started.
      await this.executions!.cancelExecution({ name: executionName }).catch(() => undefined);
      return null;
    }
    return executionName;
  }

  /**
   * A record no job can run (its profile names no job here, e.g. enqueued by a newer deploy) fails at once, without
   * a retry: left pending it would never run, and the dispatcher, which lists the first due records, would stall
   * behind it. `retry(id)` puts it back once the configuration knows the profile.
   */
  private async failUnrunnable(runner: TaskRunner, record: QueuedTaskRecord, problem: string): Promise<null> {
    const backend = runner.backend;
    const workerId = `dispatch:${this.name}`;
    const claimed = await backend.claimTask(record.id, { workerId });
    if (!claimed) return null; // taken or changed meanwhile: whoever has it decides
    const message = `Cannot dispatch to ${this.name}: ${problem}`;
    this.logger.error(`${record.taskName} (${record.id}): ${message}`);
    const failed = await backend.failTask(claimed.id, message, {
      retry: false,
      expectedRetryCount: claimed.retryCount,
    });
    if (failed)
      await runner.publishLifecycle('task.failed', claimed, workerId, {
        level: 'error',
        message,
        payload: { error: message, willRetry: false },
      });
    return null;
  }

  override async reconcile(runner: TaskRunner, record: QueuedTaskRecord): Promise<QueuedTaskRecord | null> {
    const ref = record.executionRef;
    if (!ref) return null;
    const backend = runner.backend;
    if (ref.startsWith(RESERVING)) {
      const reservedAt = Number(ref.slice(ref.lastIndexOf(':') + 1));
      if (Date.now() - reservedAt > (this.config.reservationTtl ?? 120_000))
        return backend.setExecutionRef(record.id, null, { expectedRef: ref });
      return null;
    }
    let outcome: ReturnType<typeof executionOutcome>;
    try {
      const [execution] = await this.executions!.getExecution({ name: ref });
      outcome = executionOutcome(execution as never);
    } catch (error) {
      if ((error as { code?: number }).code !== NOT_FOUND) return null; // transient: still running
      outcome = { state: 'failed', message: `Cloud Run execution ${ref} not found` };
    }
    if (outcome.state === 'running') return null;
    const current = await backend.getTask(record.id);
    if (
      !current ||
      current.executionRef !== ref ||
      ['completed', 'failed', 'cancelled'].includes(current.status)
    )
      return null;
    if (outcome.state === 'succeeded') {
      // The container finished the record itself; a ref still set means its write was lost: retry through stale recovery.
      return backend.setExecutionRef(record.id, null, { expectedRef: ref });
    }
    if (outcome.state === 'cancelled') {
      const cancelled = await backend.cancelTask(record.id);
      if (cancelled)
        await runner.publishLifecycle('task.cancelled', cancelled, null, {
          message: 'Cloud Run execution cancelled',
        });
      return cancelled;
    }
    // Failed: fail the attempt through the retry policy, fenced on the retry count we read.
    let running = current;
    if (current.status !== 'running') {
      const claimed = await backend.claimTask(current.id, { workerId: `reconcile:${ref}` });
      if (!claimed || claimed.retryCount !== current.retryCount) return null;
      running = claimed;
    }
    return runner.fail(running, runner.tasks.find(running.taskName), new Error(outcome.message), null);
  }

  override async cancel(_runner: TaskRunner, record: QueuedTaskRecord): Promise<boolean> {
    const ref = record.executionRef;
    if (!ref || ref.startsWith(RESERVING)) return false;
    try {
      await this.executions!.cancelExecution({ name: ref });
      return true;
    } catch {
      return false;
    }
  }
}
