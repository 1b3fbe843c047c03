import type { INestApplicationContext, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { hostname } from 'node:os';
import { QueueBackend, type ClaimRefusal } from '../backends/queue-backend.js';
import type { QueuesModuleOptions } from '../options/queues-module-options.js';
import { claimPolicyOf } from '../options/queue-policy.js';
import { QUEUES_MODULE_OPTIONS } from '../queues.constants.js';
import { TaskRunner } from '../execution/task-runner.js';
import { TaskRegistry } from '../tasks/task.registry.js';
import { QueueWorker } from '../workers/queue.worker.js';
import { RunTaskExit } from './exit-codes.js';
import { loadAppModule } from './load-app-module.js';
import { RunTaskHeartbeat } from './run-task-heartbeat.js';
import { StderrLogger } from './stderr-logger.js';

/** What each refusal of `claimTaskControlled` means, for the log line. */
const REFUSALS: Record<ClaimRefusal, string> = {
  paused: 'paused',
  concurrency: 'at its concurrency cap',
  groupConcurrency: "at the groupConcurrency cap of the record's group",
  rateLimit: 'rate-limited',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What `run-task` needs from its caller. */
export interface RunTaskInput {
  taskId: string | undefined;
  appModule: string | undefined;
  /** @default the module's `worker.heartbeatInterval` */
  heartbeatInterval?: number;
  log?: (line: string) => void;
}

/**
 * Run one record in this process, as a Cloud Run job container does: boot the app's module with the worker off,
 * claim the record by id, heartbeat it, run it, and return the exit code of DESIGN §6.
 */
export async function runTaskCommand(input: RunTaskInput): Promise<number> {
  const log = input.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (!input.taskId) {
    log('Missing task id: set NESTJS_QUEUES_TASK_ID');
    return RunTaskExit.missingTaskId;
  }
  if (!UUID.test(input.taskId)) {
    log(`Invalid task id "${input.taskId}": expected a UUID`);
    return RunTaskExit.invalidTaskId;
  }
  let module: unknown;
  try {
    module = await loadAppModule(input.appModule);
  } catch (error) {
    log((error as Error).message);
    return RunTaskExit.missingAppModule;
  }
  process.env['NESTJS_QUEUES_WORKER_ENABLED'] = 'false';
  const app: INestApplicationContext = await NestFactory.createApplicationContext(module as Type, {
    logger: new StderrLogger(['error', 'warn']),
  });
  try {
    const backend = app.get(QueueBackend);
    const record = await backend.getTask(input.taskId);
    if (!record) {
      log(`No record ${input.taskId}`);
      return RunTaskExit.missingRecord;
    }
    const runner = app.get(TaskRunner);
    const workerId = `run-task:${process.env['CLOUD_RUN_EXECUTION'] ?? hostname()}:${process.pid}`;
    if (!app.get(TaskRegistry).has(record.taskName)) {
      log(
        `Unknown task "${record.taskName}" for record ${record.id}: this app module registers no such @Task`,
      );
      // Fail the record (no retry): left pending, reconcile would dispatch it again to the same image.
      const claimed = await backend.claimTask(record.id, { workerId });
      if (claimed) await runner.run(claimed, { workerId });
      return RunTaskExit.unknownTask;
    }
    const policies = app.get<QueuesModuleOptions>(QUEUES_MODULE_OPTIONS).queues;
    const { claimed, refused, retryAt, expired } = await backend.claimTaskControlled(record.id, {
      workerId,
      policy: claimPolicyOf(policies?.[record.queue]),
    });
    if (expired) {
      // Ended by the claim without starting (it takes no slot, no start of the window): a failure of the record.
      await runner.endExpired(expired, workerId);
      log(`Not started ${record.id}: ${expired.error ?? 'it expired'}`);
      return RunTaskExit.failure;
    }
    if (refused) {
      await handBackRefused(backend, record.id);
      const until = retryAt !== undefined ? ` until ${new Date(retryAt).toISOString()}` : '';
      log(
        `Not started ${record.id}: queue "${record.queue}" is ${REFUSALS[refused]}${until}; left pending for a later dispatch`,
      );
      return RunTaskExit.refused;
    }
    if (!claimed) {
      log(`Could not claim ${record.id}: it is ${record.status} or another runner took it`);
      return RunTaskExit.claimLost;
    }
    const heartbeat = new RunTaskHeartbeat(backend, runner, claimed, log);
    heartbeat.start(input.heartbeatInterval ?? app.get(QueueWorker).options.heartbeatInterval);
    try {
      const final = await runner.run(claimed, { workerId });
      if (final?.status === 'completed') return RunTaskExit.success;
      if (final?.status === 'cancelled') return RunTaskExit.cancelled;
      if (final) return RunTaskExit.failure;
      // Nothing written for this attempt: cancelled meanwhile (7), or taken from us (6).
      const current = await backend.getTask(claimed.id).catch(() => null);
      return current?.status === 'cancelled' ? RunTaskExit.cancelled : RunTaskExit.claimLost;
    } finally {
      heartbeat.stop();
    }
  } finally {
    await app.close();
  }
}

/**
 * A refused record goes back to the dispatcher: its execution ref (this run's, or the dispatcher's reservation) is
 * cleared, fenced on the ref read now, so a later dispatch pass sends it again, and reconcile, seeing another ref,
 * does not fail it for this run's exit code. Best effort: a failed write leaves the ref to reconcile.
 */
async function handBackRefused(backend: QueueBackend, id: string): Promise<void> {
  const current = await backend.getTask(id).catch(() => null);
  if (current?.executionRef)
    await backend.setExecutionRef(id, null, { expectedRef: current.executionRef }).catch(() => null);
}
