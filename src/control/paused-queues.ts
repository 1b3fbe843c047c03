import { Injectable } from '@nestjs/common';
import { QueueBackend } from '../backends/queue-backend.js';

/**
 * This process's view of which queues are paused, for what the backend's claim cannot hold back by itself: records a
 * worker claimed ahead into its prefetch buffer before a pause, and dispatches to external execution backends. The
 * backend stays the truth (every claim there leaves paused queues out); this view is re-read by the worker every poll
 * interval and is told at once when a queue handle of this process pauses or resumes a queue.
 */
@Injectable()
export class PausedQueues {
  private paused: ReadonlySet<string> = new Set();
  private readonly listeners = new Set<(paused: ReadonlySet<string>) => void>();

  constructor(private readonly backend: QueueBackend) {}

  /** Whether `queue` was paused when last read. */
  has(queue: string): boolean {
    return this.paused.has(queue);
  }

  /** The queues paused when last read. */
  get names(): string[] {
    return [...this.paused];
  }

  /** Whether any queue was paused when last read (a worker skips its buffer check while none is). */
  get any(): boolean {
    return this.paused.size > 0;
  }

  /** Read the paused queues from the backend; listeners hear of a change. */
  async refresh(): Promise<void> {
    this.apply(new Set(await this.backend.listPausedQueues()));
  }

  /** A queue handle of this process changed a queue's state: apply it now, without waiting for the next read. */
  noteLocal(queue: string, paused: boolean): void {
    const next = new Set(this.paused);
    if (paused) next.add(queue);
    else next.delete(queue);
    this.apply(next);
  }

  /** Hear every change of the view; returns what stops it. */
  onChange(listener: (paused: ReadonlySet<string>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private apply(next: ReadonlySet<string>): void {
    const changed = next.size !== this.paused.size || [...next].some((queue) => !this.paused.has(queue));
    this.paused = next;
    if (!changed) return;
    for (const listener of this.listeners) listener(next);
  }
}
