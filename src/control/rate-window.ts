/**
 * A sliding-window rate limit in one process: the start times of the last `max` starts, oldest first. A start is
 * allowed while fewer than `max` starts fall in the last `duration` ms, so no window of `duration` ms ever holds
 * more than `max` starts (a fixed window would allow twice that across its boundary). The memory backend's limiter;
 * the SQL and Redis limiters keep the same log in the store.
 */
export class RateWindow {
  private starts: number[] = [];

  constructor(
    private max: number,
    private duration: number,
  ) {}

  /** Follow a changed limit (the log is kept: what started still counts). */
  configure(max: number, duration: number): void {
    this.max = max;
    this.duration = duration;
  }

  /** How many starts are allowed at `now`. */
  free(now: number): number {
    this.forget(now);
    return Math.max(0, this.max - this.starts.length);
  }

  /** When the next start is allowed (`now` when one is). */
  nextFree(now: number): number {
    this.forget(now);
    if (this.starts.length < this.max) return now;
    return this.starts[this.starts.length - this.max]! + this.duration;
  }

  /**
   * The starts counted at `now` under a limit of `max` per `duration` (the log's own by default), and when the
   * oldest of them leaves the window. A read: the log is not changed.
   */
  usage(now: number, max = this.max, duration = this.duration): { used: number; freesAt: number | null } {
    const counted = this.starts.filter((at) => at > now - duration).slice(-max);
    return { used: counted.length, freesAt: counted.length === 0 ? null : counted[0]! + duration };
  }

  /** `count` starts happened at `now`. */
  record(now: number, count: number): void {
    for (let i = 0; i < count; i++) this.starts.push(now);
    if (this.starts.length > this.max) this.starts = this.starts.slice(-this.max);
  }

  private forget(now: number): void {
    let old = 0;
    while (old < this.starts.length && this.starts[old]! <= now - this.duration) old++;
    if (old > 0) this.starts = this.starts.slice(old);
  }
}
