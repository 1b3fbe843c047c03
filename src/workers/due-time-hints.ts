import { Injectable } from '@nestjs/common';

/**
 * In-process hints of when delayed work becomes due (a delayed enqueue, a retry with backoff), so an idle
 * worker wakes for it instead of sleeping through its poll backoff. Cross-process, polling stays the truth.
 */
@Injectable()
export class DueTimeHints {
  private earliest: number | undefined;
  private listener: (() => void) | undefined;

  /** Record that work becomes due at `at`. */
  hint(at: Date | null | undefined): void {
    const time = at?.getTime();
    if (time === undefined || !Number.isFinite(time)) return;
    if (this.earliest === undefined || time < this.earliest) {
      this.earliest = time;
      this.listener?.();
    }
  }

  /** Earliest hinted due time still in the future, dropping past ones. */
  next(now = Date.now()): number | undefined {
    if (this.earliest !== undefined && this.earliest <= now) this.earliest = undefined;
    return this.earliest;
  }

  /** The worker's callback when an earlier due time arrives. */
  onEarlier(listener: (() => void) | undefined): void {
    this.listener = listener;
  }
}
