import { QueueError } from '../errors/queue.error.js';
import { textProblem, VALUE_LIMITS } from '../options/value-limits.js';

/**
 * A live worker as the worker registry holds it (the dashboard's workers page). Each worker writes its entry from
 * its heartbeat loop with a time to live; an entry not renewed within it is gone from `QueueBackend.listWorkers`.
 */
export interface WorkerInfo {
  /** `worker.workerId` (by default `<host>:<pid>:<random>`). */
  id: string;
  /** Host name of the worker's machine (`os.hostname()`). */
  host: string;
  /** Process id on that host. */
  pid: number;
  /** Queues the worker claims from; `null` means every queue. */
  queues: string[] | null;
  /** `worker.concurrency`. */
  concurrency: number;
  /** Records it was running at its last heartbeat. */
  running: number;
  /** When the worker started claiming. */
  startedAt: Date;
  /** Its last heartbeat. */
  heartbeatAt: Date;
}

/** A worker entry as stored (JSON text in SQL and Redis; times in epoch ms). */
interface StoredWorker {
  id: string;
  host: string;
  pid: number;
  queues: string[] | null;
  concurrency: number;
  running: number;
  startedAt: number;
  heartbeatAt: number;
}

/** Serialise a worker entry for storage. */
export function encodeWorkerInfo(info: WorkerInfo): string {
  const stored: StoredWorker = {
    id: info.id,
    host: info.host,
    pid: info.pid,
    queues: info.queues ? [...info.queues] : null,
    concurrency: info.concurrency,
    running: info.running,
    startedAt: info.startedAt.getTime(),
    heartbeatAt: info.heartbeatAt.getTime(),
  };
  return JSON.stringify(stored);
}

/**
 * A stored worker entry back as a `WorkerInfo`, or `null` when the text is not one (the store is shared: a
 * damaged entry is skipped rather than failing the whole list).
 */
export function decodeWorkerInfo(text: string): WorkerInfo | null {
  let value: Partial<StoredWorker>;
  try {
    value = JSON.parse(text) as Partial<StoredWorker>;
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object' || typeof value.id !== 'string') return null;
  const count = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) ? n : 0);
  const queues = Array.isArray(value.queues) ? value.queues.filter((q) => typeof q === 'string') : null;
  return {
    id: value.id,
    host: typeof value.host === 'string' ? value.host : '',
    pid: count(value.pid),
    queues,
    concurrency: count(value.concurrency),
    running: count(value.running),
    startedAt: new Date(count(value.startedAt)),
    heartbeatAt: new Date(count(value.heartbeatAt)),
  };
}

/** A copy of a worker entry (callers never get the registry's own objects). */
export function copyWorkerInfo(info: WorkerInfo): WorkerInfo {
  return {
    ...info,
    queues: info.queues ? [...info.queues] : null,
    startedAt: new Date(info.startedAt),
    heartbeatAt: new Date(info.heartbeatAt),
  };
}

/** Workers in a stable order: by id. */
export function byWorkerId(a: WorkerInfo, b: WorkerInfo): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Longest worker id the registry stores (the `worker_id` column's length). */
const WORKER_ID_LENGTH = 255;

/**
 * Refuse an entry no backend could store alike (an empty or over-long id, a time to live that is not a positive
 * whole number of ms within one timer), before anything is written.
 */
export function assertWorkerEntry(info: WorkerInfo, ttl: number): void {
  if (typeof info.id !== 'string' || info.id.length === 0 || info.id.length > WORKER_ID_LENGTH)
    throw new QueueError(
      `A worker id must be 1-${WORKER_ID_LENGTH} characters (got ${JSON.stringify(info.id)})`,
    );
  const problem = textProblem(info.id);
  if (problem) throw new QueueError(`A worker id ${problem}`);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > VALUE_LIMITS.maxTimerMs)
    throw new QueueError(
      `A worker entry's time to live must be 1-${VALUE_LIMITS.maxTimerMs} ms (got ${ttl})`,
    );
}
