import { RecentMap } from '../collections/recent-map.js';
import { RateWindow } from '../control/rate-window.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { QueuePolicies } from '../options/queue-policy.js';

/** First wait before a handed-back record is dispatched again; each further hand-back doubles it. */
export const DISPATCH_BACKOFF_BASE_MS = 2_000;
/** Longest wait before a handed-back record is dispatched again. */
export const DISPATCH_BACKOFF_MAX_MS = 60_000;
/** Records whose dispatches are remembered (the oldest are forgotten: a forgotten one starts its back-off over). */
const REMEMBERED_DISPATCHES = 10_000;

/** A dispatched record: how often it was sent, and whether it is out or held back (until `notBefore`). */
interface Dispatched {
  count: number;
  notBefore: number | undefined;
}

/**
 * What an external dispatcher remembers across its passes, so it starts no container the run's claim by id
 * (`claimTaskControlled`) would refuse, where it can know it:
 * - a queue's `rateLimit`: this process dispatches at most `max` records of the queue per `duration` ms (its own
 *   sliding window: the store's window, which the run's claim checks, counts the claims of every process);
 * - a record handed back (its execution ref cleared while still waiting, as `run-task` does when its claim is refused,
 *   exit code 9) waits before its next dispatch, 2 s then twice as long each time, at most 60 s, instead of being
 *   sent again on the next pass (a container started for nothing on every pass while the queue stays held).
 * One process's view: dispatchers in several processes each keep their own, and the claim by id holds the limits.
 */
export class DispatchPacing {
  private readonly windows = new Map<string, RateWindow>();
  private readonly dispatched = new RecentMap<string, Dispatched>(REMEMBERED_DISPATCHES);

  constructor(private readonly policies: QueuePolicies | undefined) {}

  /** Whether `record` (due, not dispatched) may be dispatched at `now`. */
  allows(record: QueuedTaskRecord, now: number): boolean {
    if (this.heldBack(attemptKey(record), now)) return false;
    return (this.window(record.queue)?.free(now) ?? 1) > 0;
  }

  /** `record` was dispatched at `now`. */
  sent(record: QueuedTaskRecord, now: number): void {
    this.window(record.queue)?.record(now, 1);
    const key = attemptKey(record);
    const count = (this.dispatched.get(key)?.count ?? 0) + 1;
    this.dispatched.set(key, { count, notBefore: undefined });
  }

  /**
   * A record this process dispatched that is due and undispatched again was handed back: the first pass that sees it
   * so starts its wait.
   */
  private heldBack(key: string, now: number): boolean {
    const entry = this.dispatched.get(key);
    if (!entry) return false;
    if (entry.notBefore === undefined) {
      const wait = Math.min(DISPATCH_BACKOFF_BASE_MS * 2 ** (entry.count - 1), DISPATCH_BACKOFF_MAX_MS);
      this.dispatched.set(key, { count: entry.count, notBefore: now + wait });
      return true;
    }
    return now < entry.notBefore;
  }

  /** The queue's window of dispatches, following a changed limit; `undefined` without a `rateLimit`. */
  private window(queue: string): RateWindow | undefined {
    const limit = this.policies?.[queue]?.rateLimit;
    if (!limit) return undefined;
    let window = this.windows.get(queue);
    if (window) window.configure(limit.max, limit.duration);
    else this.windows.set(queue, (window = new RateWindow(limit.max, limit.duration)));
    return window;
  }
}

/**
 * A record's attempt: a refused claim leaves the retry count as it was, while a failed run's retry is a new attempt
 * that owes nothing to the back-off of the one before.
 */
function attemptKey(record: QueuedTaskRecord): string {
  return `${record.id}:${record.retryCount}`;
}
