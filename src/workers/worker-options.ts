import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { WorkerOptions } from '../options/queues-module-options.js';

/** Worker options with every default applied. */
export type ResolvedWorkerOptions = Required<
  Omit<WorkerOptions, 'queues' | 'queueConcurrency' | 'cleanup'>
> & {
  queues: string[] | undefined;
  queueConcurrency: Record<string, number>;
  cleanup: ResolvedCleanupOptions;
};

/** `worker.cleanup` with defaults applied; `enabled` false for `cleanup: false`. */
export interface ResolvedCleanupOptions {
  enabled: boolean;
  interval: number;
  completed: number;
  failed: number;
  batchSize: number;
}

const DAY = 24 * 3600 * 1000;

/** Defaults of `worker.cleanup` (see `CleanupOptions`). */
export function resolveCleanupOptions(cleanup: WorkerOptions['cleanup']): ResolvedCleanupOptions {
  const o = cleanup === false ? {} : (cleanup ?? {});
  return {
    enabled: cleanup !== false,
    interval: o.interval ?? 60_000,
    completed: o.completed ?? o.retention ?? 7 * DAY,
    failed: o.failed ?? o.retention ?? 30 * DAY,
    batchSize: o.batchSize ?? 1_000,
  };
}

/** Defaults of `WorkerOptions` (see its JSDoc). */
export function resolveWorkerOptions(options: WorkerOptions = {}): ResolvedWorkerOptions {
  return {
    enabled: options.enabled ?? true,
    concurrency: options.concurrency ?? 10,
    prefetch: options.prefetch ?? 'auto',
    queues: options.queues && options.queues.length > 0 ? [...options.queues] : undefined,
    queueConcurrency: { ...(options.queueConcurrency ?? {}) },
    pollInterval: options.pollInterval ?? 1_000,
    maxPollInterval: options.maxPollInterval ?? 5_000,
    heartbeatInterval: options.heartbeatInterval ?? 10_000,
    staleAfter: options.staleAfter ?? 60_000,
    staleCheckInterval: options.staleCheckInterval ?? 15_000,
    reconcileInterval: options.reconcileInterval ?? 30_000,
    shutdownTimeout: options.shutdownTimeout ?? 25_000,
    cleanup: resolveCleanupOptions(options.cleanup),
    workerId: options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
  };
}
