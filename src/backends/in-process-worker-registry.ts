import { byWorkerId, copyWorkerInfo, type WorkerInfo } from '../models/worker-info.js';

/**
 * Worker entries kept in this process with their expiry: the default worker registry of `QueueBackend` (the memory
 * backend's, where "the cluster" is one process). Expired entries are dropped when written or listed.
 */
export class InProcessWorkerRegistry {
  private readonly entries = new Map<string, { info: WorkerInfo; expires: number }>();

  register(info: WorkerInfo, ttl: number, now = Date.now()): void {
    this.prune(now);
    this.entries.set(info.id, { info: copyWorkerInfo(info), expires: now + ttl });
  }

  list(now = Date.now()): WorkerInfo[] {
    this.prune(now);
    return [...this.entries.values()].map((entry) => copyWorkerInfo(entry.info)).sort(byWorkerId);
  }

  remove(id: string): void {
    this.entries.delete(id);
  }

  private prune(now: number): void {
    for (const [id, entry] of this.entries) if (entry.expires <= now) this.entries.delete(id);
  }
}
