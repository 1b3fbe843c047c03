/** Weight of a new sample in the running means: about the last 50 samples count. */
const WEIGHT = 0.02;
/** Largest adaptive buffer (graphile-worker's local queue holds 500 too). */
const MAX_BUFFER = 500;
/** Largest adaptive buffer per slot: a worker of concurrency 1 keeps at most this many records waiting. */
const MAX_BUFFER_PER_SLOT = 50;
/** Writes the worker keeps in flight (CompletionBatcher): the buffer covers the round trips of both. */
const ROUND_TRIPS_COVERED = 2;

/**
 * The adaptive prefetch (`worker.prefetch: 'auto'`): how many claimed records to keep waiting beyond the running
 * ones. The buffer holds about the work this worker does during the round trips in flight, so a freed slot never
 * waits for the backend: concurrency × round trip ÷ task time, from running means of both. Short tasks (the
 * round trip is many task times) get a buffer of up to 50 per slot and 500 in all; tasks as long as a round trip
 * get one of a few records or none, so records are not held back from other workers behind tasks that take long.
 * Until both means exist the buffer is empty (claims are claim by claim).
 */
export class PrefetchSizer {
  private taskMs: number | undefined;
  private roundTripMs: number | undefined;
  private readonly max: number;
  /** The buffer size now. */
  size = 0;

  constructor(private readonly concurrency: number) {
    this.max = Math.min(MAX_BUFFER, MAX_BUFFER_PER_SLOT * concurrency);
  }

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
    this.size = Math.min(this.max, Math.floor(wanted));
  }
}
