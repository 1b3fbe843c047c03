import type { SqlDialect } from './sql-identifier.js';
import { execute, query, type SqlSteps } from './sql-steps.js';
import type { TaskRow } from './task-row.mapper.js';

const n = (row: TaskRow | undefined, column: string): number => Number(row?.[column] ?? 0);
/** Ring slots written per statement. */
const SLOTS_PER_STATEMENT = 500;

/**
 * The sliding window of a rate-limited queue on SQL (`rateLimit: { max, duration }`): a ring of `max` rows in
 * `<table>_rate` holding the last `max` start times, slot = start number mod max (the queue's count of starts is kept
 * by the caller, in its locked control row). The next start is allowed once the oldest of them is `duration` old, so
 * no window of `duration` ms holds more than `max` starts, and a claim writes its starts in one statement whatever
 * the rate. Every method runs inside the caller's transaction, under its lock of the queue.
 */
export class SqlRateRing {
  constructor(
    private readonly dialect: SqlDialect,
    /** `<table>_rate`, quoted. */
    private readonly table: string,
  ) {}

  /** A changed `max` changes the ring's size: start a fresh ring. */
  *reset(queue: string): SqlSteps<void> {
    yield* execute(`DELETE FROM ${this.table} WHERE queue = ?`, [queue]);
  }

  /**
   * How many of the next `want` starts the ring allows now, and when the window is spent by them (or already is)
   * when it frees its next start. The slots from `starts` on hold the oldest start times (a missing slot was never
   * used); they are free while at least `duration` old, and in time order, so the free ones come first. One slot
   * past `want` is read too: when it is held, taking every free start spends the window until it frees.
   */
  *free(
    queue: string,
    starts: number,
    want: number,
    rate: { max: number; duration: number },
    now: number,
  ): SqlSteps<{ count: number; until?: number }> {
    const slots = Array.from({ length: Math.min(want + 1, rate.max) }, (_, i) => (starts + i) % rate.max);
    const rows = yield* query(
      `SELECT slot, started_at FROM ${this.table} WHERE queue = ? AND slot IN (${slots.map(() => '?').join(', ')})`,
      [queue, ...slots],
    );
    const at = new Map(rows.map((row) => [n(row, 'slot'), n(row, 'started_at')]));
    let free = 0;
    while (free < slots.length) {
      const started = at.get(slots[free]!);
      if (started !== undefined && started > now - rate.duration) break;
      free++;
    }
    const count = Math.min(free, want);
    if (count < free) return { count }; // starts are left after this claim
    // Every ring slot taken by this claim: its own first start frees first.
    if (free === rate.max) return { count, until: now + rate.duration };
    return { count, until: at.get(slots[free]!)! + rate.duration };
  }

  /** The ring's starts inside the window at `now`, and the oldest of them (`null`: none). */
  *usage(queue: string, duration: number, now: number): SqlSteps<{ used: number; oldest: number | null }> {
    const [row] = yield* query(
      `SELECT COUNT(*) AS used, MIN(started_at) AS oldest FROM ${this.table} WHERE queue = ? AND started_at > ?`,
      [queue, now - duration],
    );
    const oldest = row?.['oldest'];
    return { used: n(row, 'used'), oldest: oldest === null || oldest === undefined ? null : Number(oldest) };
  }

  /** Record `count` starts at `now` in the slots from `starts` on (a claim takes at most `max`: no slot twice). */
  *record(queue: string, starts: number, count: number, max: number, now: number): SqlSteps<void> {
    for (let at = 0; at < count; at += SLOTS_PER_STATEMENT) {
      const rows = Math.min(SLOTS_PER_STATEMENT, count - at);
      const values = Array.from({ length: rows }, () => '(?, ?, ?)').join(', ');
      const insert = `INSERT INTO ${this.table} (queue, slot, started_at) VALUES ${values}`;
      const sql =
        this.dialect === 'mysql'
          ? `${insert} ON DUPLICATE KEY UPDATE started_at = VALUES(started_at)`
          : `${insert} ON CONFLICT (queue, slot) DO UPDATE SET started_at = excluded.started_at`;
      yield* execute(
        sql,
        Array.from({ length: rows }, (_, i) => [queue, (starts + at + i) % max, now]).flat(),
      );
    }
  }
}
