/** Weight of a new sample in the running means: about the last 50 samples count. */
const WEIGHT = 0.02;
/** Largest adaptive buffer (graphile-worker's local queue holds 500 too). */
const MAX_BUFFER = 500;
/**
 * Round trips of work the buffer holds: twice the writes the worker keeps in flight (CompletionBatcher), so a
 * batch's claim arrives before the slots run dry. A buffered record then waits about this many round trips. At
 * concurrency 1 on PostgreSQL (no-op tasks, interleaved): 2 with at most 50 per slot 2.5k jobs/s, 4 without a
 * per-slot cap 3.2–5.4k, 8 3.6–5.6k.
 */
const ROUND_TRIPS_COVERED = 4;

/**
 * The adaptive prefetch (`worker.prefetch: 'auto'`): how many claimed records to keep waiting beyond the running
 * ones. The buffer holds about the work this worker does during the round trips in flight, so a freed slot never
 * waits for the backend: concurrency × 4 round trips ÷ task time, from running means of both. Short tasks (the
 * round trip is many task times) get a buffer of up to 500; tasks as long as a few round trips get one of a few
 * records or none, so records are not held back from other workers behind tasks that take long.
 * Until both means exist the buffer is empty (claims are claim by claim).
 */
export class PrefetchSizer {
  private taskMs: number | undefined;
  private roundTripMs: number | undefined;
  /** The buffer size now. */
  size = 0;

  constructor(private readonly concurrency: number) {}

  /** A task held its slot for `ms`. */
  taskEnded(ms: number): void {
    this.taskMs = this.taskMs === undefined ? ms : this.taskMs + WEIGHT * (ms - this.taskMs);
    this.resize();
  }

  /** A backend call that claims (alone or with completions) took `ms`. */
  roundTrip(ms: number): void {
    this.roundTripMs =
      this.roundTripMs === undefined ? ms : this.roundTripMs + WEIGHT * (ms - this.roundTripMs);
    this.resize();
  }

  private resize(): void {
    if (this.taskMs === undefined || this.roundTripMs === undefined) return;
    const wanted = (this.concurrency * ROUND_TRIPS_COVERED * this.roundTripMs) / Math.max(this.taskMs, 0.001);
    this.size = Math.min(MAX_BUFFER, Math.floor(wanted));
  }
}
