import type { ControlledClaimOptions, RateWindowState } from '../queue-backend.js';
import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import type { TaskRow } from './task-row.mapper.js';
import type { SqlDialect } from './sql-identifier.js';
import { SqlRateRing } from './rate-ring.sql.js';
import { execute, query, type SqlSteps } from './sql-steps.js';

/** The statements of one transaction (`?` placeholders). */
export interface SqlTx {
  query(sql: string, params?: unknown[]): Promise<TaskRow[]>;
  execute(sql: string, params?: unknown[]): Promise<number>;
}

/** What the control needs of its store: names and the dialect's pieces. */
export interface CapsTables {
  dialect: SqlDialect;
  /** The queue table, quoted. */
  table: string;
  /** `<table>_control`, `<table>_rate`, `<table>_group`, quoted; `<table>_queue_state` (pauses), quoted. */
  control: string;
  state: string;
  rate: string;
  group: string;
  /** The condition selecting claimable rows, as the dialect's indexes serve it. */
  claimable: string;
  /**
   * `queue = ?` written so that no index on `queue` is chosen for it: the queue's running rows are counted on the
   * running index and its head read on the claim index (in claim order), not by scanning the queue's every row.
   */
  queueOnRow: string;
  /**
   * The dialect's hint to read an index of ours (`claim`, `group_ready`, `group_turn`), where its planner otherwise
   * picks another and sorts (SQLite took a status index for the queue's head; MariaDB took the primary key of the
   * group line and an index of all of a group's records, each followed by a filesort of every row); or ''.
   */
  indexHint: (suffix: 'claim' | 'group_ready' | 'group_turn') => string;
  /** `AND execution_backend IN (...)` for a filter, with its parameters. */
  backendFilter(backends: readonly string[] | undefined): { where: string; params: unknown[] };
}

const n = (row: TaskRow | undefined, column: string): number => Number(row?.[column] ?? 0);
/** Groups read per page while looking for groups with room. */
const GROUP_PAGE = 64;
/**
 * How often (ms) a grouped claim also looks for groups with claimable rows that are missing from the line (a record
 * made claimable by a path that does not line its group up, such as a flow releasing a waiting record).
 */
const SWEEP_INTERVAL = 30_000;
/**
 * Turns are times in thousandths of a ms: a group served in millisecond t gets a turn inside t (behind every group
 * already there), so several claims in one millisecond still send each served group to the back, and a served
 * group's turn never runs ahead of the clock (which would take it out of the line until the clock caught up).
 */
const TURN = 1_000;
/** How soon (ms) a group whose only records wait for their flow's children is looked at again. */
const WAITING_RECHECK = 1_000;
/** The latest turn eligible at `now` (ms). */
const eligible = (now: number): number => now * TURN + TURN - 1;

/**
 * Queue control on SQL (`claimControlled`): one transaction that first locks the queue's row in `<table>_control`,
 * so claimers of a controlled queue in every process take turns for the few statements the checks need, then:
 * - `concurrency`: counts the queue's running rows (bounded by the workers' slots; read on the running index);
 * - `rateLimit`: the last `max` start times in a ring of rows (`SqlRateRing`, rate-ring.sql.ts), a sliding window;
 * - `groupConcurrency`: groups with ready work are rows of `<table>_group` ordered by `turn` (when the group was last
 *   served, or became ready): a claim serves groups in that order, one record per group per round, each group's head
 *   found on an index on (queue, task_group, priority, queued_at, seq), and its running rows counted on an index of
 *   grouped running rows. Groups enter that table when a record of theirs is enqueued or put back in line; a group
 *   found without claimable rows leaves it (unless an enqueue touched it meanwhile), one whose rows are all scheduled
 *   later waits with its turn at the earliest due time. Records without a group take one turn per round, uncapped.
 * Running counts are read from the rows, so every path out of `running` (completion, failure, cancellation, release,
 * stale recovery) gives its slot back with no counter to keep.
 */
export class SqlQueueCaps {
  private readonly ring: SqlRateRing;
  /** When this process last looked whether a queue's sweep was due (see `sweepGroupsIfDue`). */
  private readonly sweepLookedAt = new Map<string, number>();

  constructor(private readonly t: CapsTables) {
    this.ring = new SqlRateRing(t.dialect, t.rate);
  }

  schemaStatements(index: (suffix: string) => string): string[] {
    const { dialect, table, control, rate, group } = this.t;
    const text = (length: number) => (dialect === 'sqlite' ? 'TEXT' : `varchar(${length})`);
    const big = dialect === 'sqlite' ? 'INTEGER' : 'BIGINT';
    const engine = dialect === 'mysql' ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '';
    const statements = [
      `CREATE TABLE IF NOT EXISTS ${control} (queue ${text(100)} NOT NULL PRIMARY KEY, starts ${big} NOT NULL,
        rate_max INTEGER NOT NULL, swept_at ${big} NOT NULL)${engine}`,
      `CREATE TABLE IF NOT EXISTS ${rate} (queue ${text(100)} NOT NULL, slot INTEGER NOT NULL,
        started_at ${big} NOT NULL, PRIMARY KEY (queue, slot))${engine}`,
      `CREATE TABLE IF NOT EXISTS ${group} (queue ${text(100)} NOT NULL, task_group ${text(255)} NOT NULL,
        turn ${big} NOT NULL, touched ${big} NOT NULL, PRIMARY KEY (queue, task_group))${engine}`,
    ];
    statements.push(
      `CREATE INDEX IF NOT EXISTS ${index('group_turn')} ON ${group} (queue, turn, task_group)`,
    );
    return statements;
  }

  /**
   * The records table's indexes of grouped claims (`groupConcurrency`): each group's head and each group's running
   * rows. Every waiting record (grouped or not) took an entry in the first, 3 of the 13 µs of server CPU per row of
   * a PostgreSQL bulk enqueue (docs/performance.md), and on MariaDB both are written at every status change; so they
   * are created by the first grouped claim of a store (`SqlQueueStore.ensureGroupIndexes`) or by the migration, not
   * by `createSchema`. Tables of earlier versions keep theirs.
   */
  groupIndexStatements(index: (suffix: string) => string): string[] {
    const { dialect, table } = this.t;
    if (dialect === 'mysql') {
      // No partial indexes: the claimable generated column leads, as in the main claim index.
      return [
        `CREATE INDEX IF NOT EXISTS ${index('group_ready')} ON ${table} (queue, task_group, claimable, priority DESC, queued_at, seq)`,
        `CREATE INDEX IF NOT EXISTS ${index('group_running')} ON ${table} (queue, status, task_group)`,
      ];
    }
    return [
      // Rows without a group too: a grouped claim serves them as one more group.
      `CREATE INDEX IF NOT EXISTS ${index('group_ready')} ON ${table} (queue, task_group, priority DESC, queued_at, seq)
        WHERE status IN ('pending','scheduled')`,
      // Only grouped rows: an index of all running rows would compete with `_running` for the stale scan.
      `CREATE INDEX IF NOT EXISTS ${index('group_running')} ON ${table} (queue, task_group)
        WHERE status = 'running' AND task_group IS NOT NULL`,
    ];
  }

  /** `INSERT` that leaves an existing row alone, in the dialect. */
  private insertIgnore(into: string, columns: string, values: string): string {
    if (this.t.dialect === 'mysql') return `INSERT IGNORE INTO ${into} (${columns}) VALUES (${values})`;
    if (this.t.dialect === 'sqlite') return `INSERT OR IGNORE INTO ${into} (${columns}) VALUES (${values})`;
    return `INSERT INTO ${into} (${columns}) VALUES (${values}) ON CONFLICT DO NOTHING`;
  }

  /**
   * Statements that put the groups of records just made claimable (enqueued, retried, requeued, released) in line:
   * a new group's turn is when its first record is due; an existing one keeps the earlier of the two and is marked
   * touched, so a claim that found it empty a moment ago does not drop it.
   */
  groupsInLine(records: readonly QueuedTaskRecord[]): Array<{ sql: string; params: unknown[] }> {
    const due = new Map<string, { queue: string; group: string; at: number }>();
    for (const record of records) {
      // 'waiting': a flow's parent, made due by its last child through a statement of the flows' own.
      if (record.group === null || !['pending', 'scheduled', 'waiting'].includes(record.status)) continue;
      const at = (record.scheduledAt?.getTime() ?? record.queuedAt.getTime()) * TURN;
      const name = `${record.queue}\u0000${record.group}`;
      const seen = due.get(name);
      if (!seen || at < seen.at) due.set(name, { queue: record.queue, group: record.group, at });
    }
    const least = this.t.dialect === 'sqlite' ? 'MIN' : 'LEAST';
    const rows = [...due.values()];
    const statements: Array<{ sql: string; params: unknown[] }> = [];
    for (let at = 0; at < rows.length; at += 500) {
      const chunk = rows.slice(at, at + 500);
      const values = chunk.map(() => '(?, ?, ?, 0)').join(', ');
      const sql =
        this.t.dialect === 'mysql'
          ? `INSERT INTO ${this.t.group} (queue, task_group, turn, touched) VALUES ${values}
             ON DUPLICATE KEY UPDATE turn = LEAST(turn, VALUES(turn)), touched = touched + 1`
          : `INSERT INTO ${this.t.group} AS g (queue, task_group, turn, touched) VALUES ${values}
             ON CONFLICT (queue, task_group) DO UPDATE SET turn = ${least}(g.turn, excluded.turn), touched = g.touched + 1`;
      statements.push({ sql, params: chunk.flatMap(({ queue, group, at: due }) => [queue, group, due]) });
    }
    return statements;
  }

  /**
   * The controlled claim, as the steps of the caller's transaction (the caller commits): the ids to mark running, in claim order, already marked;
   * or, when the rate limit left no start, when it frees.
   */
  *claim(
    options: ControlledClaimOptions,
    lockRows: string,
  ): SqlSteps<{ ids: string[]; rateLimitedUntil?: number }> {
    const { queue, policy } = options;
    const { now, starts } = yield* this.lockQueue(queue);
    if (yield* this.isPaused(queue)) return { ids: [] };
    let room = options.limit;
    if (policy.concurrency !== undefined)
      room = Math.min(room, policy.concurrency - (yield* this.runningInQueue(queue)));
    if (room <= 0) return { ids: [] };
    const rate = policy.rateLimit;
    let blockedUntil: number | undefined;
    if (rate) {
      const free = yield* this.rateRoom(queue, starts, Math.min(room, rate.max), rate, now);
      if (free.count === 0) return { ids: [], rateLimitedUntil: free.until };
      room = Math.min(room, free.count);
      blockedUntil = free.until;
    }
    const ids =
      policy.groupConcurrency === undefined
        ? yield* this.markRunning(options, now, yield* this.heads(options, undefined, room, now, lockRows))
        : yield* this.claimByGroup(options, policy.groupConcurrency, room, now, lockRows);
    if (ids.length === 0) return { ids };
    if (rate) {
      yield* this.recordStarts(queue, starts.count, ids.length, rate.max, now);
      // Every free start taken and the window's next one later: say when, so the claimer need not ask again first.
      if (ids.length === room && blockedUntil !== undefined) return { ids, rateLimitedUntil: blockedUntil };
    }
    return { ids };
  }

  /**
   * Lock the queue's control row (made by its first controlled claim), so claimers of the queue in every process
   * take turns; `now` is read once the lock is held: a time read before waiting for it would put this claim's starts
   * before those of the claimer it waited for, and free their ring slots early.
   */
  *lockQueue(queue: string): SqlSteps<{ now: number; starts: { count: number; max: number } }> {
    const forUpdate = this.t.dialect === 'sqlite' ? '' : ' FOR UPDATE';
    const lock = `SELECT starts, rate_max FROM ${this.t.control} WHERE queue = ?${forUpdate}`;
    let [state] = yield* query(lock, [queue]);
    if (!state) {
      yield* execute(this.insertIgnore(this.t.control, 'queue, starts, rate_max, swept_at', '?, 0, 0, 0'), [
        queue,
      ]);
      [state] = yield* query(lock, [queue]);
    }
    return { now: Date.now(), starts: { count: n(state, 'starts'), max: n(state, 'rate_max') } };
  }

  /** Whether the queue is paused (QueueHandle.pause), read under the caller's lock of it. */
  *isPaused(queue: string): SqlSteps<boolean> {
    const [pause] = yield* query(`SELECT paused FROM ${this.t.state} WHERE queue = ?`, [queue]);
    return n(pause, 'paused') === 1;
  }

  /** The queue's running rows (bounded by the workers' slots; read on the running index). */
  *runningInQueue(queue: string): SqlSteps<number> {
    const [running] = yield* query(
      `SELECT COUNT(*) AS n FROM ${this.t.table} WHERE status = 'running' AND ${this.t.queueOnRow}`,
      [queue],
    );
    return n(running, 'n');
  }

  /** A group's running rows (on the index of grouped running rows). */
  *runningInGroup(queue: string, group: string): SqlSteps<number> {
    const [counted] = yield* query(
      `SELECT COUNT(*) AS n FROM ${this.t.table} WHERE queue = ? AND task_group = ? AND status = 'running'`,
      [queue, group],
    );
    return n(counted, 'n');
  }

  /**
   * How many of `want` starts the rate ring allows now (see `SqlRateRing.free`); a changed `max` changes the ring's
   * size, so the ring starts afresh (and `starts` is reset in place).
   */
  *rateRoom(
    queue: string,
    starts: { count: number; max: number },
    want: number,
    rate: { max: number; duration: number },
    now: number,
  ): SqlSteps<{ count: number; until?: number }> {
    if (starts.max !== rate.max) {
      yield* this.ring.reset(queue);
      yield* execute(`UPDATE ${this.t.control} SET starts = 0, rate_max = ? WHERE queue = ?`, [
        rate.max,
        queue,
      ]);
      starts.count = 0;
      starts.max = rate.max;
    }
    return yield* this.ring.free(queue, starts.count, want, rate, now);
  }

  /**
   * The rate window of `queue` at `now` as its next claim under `rate` counts it: a ring kept for another `max`
   * (or none yet) is reset by that claim, so it counts no start. Read without the queue's lock: a display.
   */
  *rateWindow(
    queue: string,
    rate: { max: number; duration: number },
    now: number,
  ): SqlSteps<RateWindowState> {
    const [state] = yield* query(`SELECT rate_max FROM ${this.t.control} WHERE queue = ?`, [queue]);
    if (!state || n(state, 'rate_max') !== rate.max) return { used: 0, freesAt: null };
    const { used, oldest } = yield* this.ring.usage(queue, rate.duration, now);
    return { used: Math.min(used, rate.max), freesAt: oldest === null ? null : oldest + rate.duration };
  }

  /** Record `count` starts at `now` in the ring and the queue's count of starts. */
  *recordStarts(queue: string, starts: number, count: number, max: number, now: number): SqlSteps<void> {
    yield* this.ring.record(queue, starts, count, max, now);
    yield* execute(`UPDATE ${this.t.control} SET starts = ? WHERE queue = ?`, [starts + count, queue]);
  }

  /**
   * Line up groups with claimable rows that are missing from the line (see `SWEEP_INTERVAL`), at most once per
   * interval per queue across all processes (the process whose UPDATE moves `swept_at` sweeps). Runs outside the
   * claim's transaction, so its scan of the queue's waiting grouped rows never holds the queue's lock.
   */
  async sweepGroupsIfDue(db: SqlTx, queue: string): Promise<void> {
    const now = Date.now();
    // Looked at once per interval per process: the UPDATE below writes the row every claim would lock.
    if ((this.sweepLookedAt.get(queue) ?? -Infinity) > now - SWEEP_INTERVAL) return;
    this.sweepLookedAt.set(queue, now);
    await db.execute(this.insertIgnore(this.t.control, 'queue, starts, rate_max, swept_at', '?, 0, 0, 0'), [
      queue,
    ]);
    const due = await db.execute(
      `UPDATE ${this.t.control} SET swept_at = ? WHERE queue = ? AND swept_at <= ?`,
      [now, queue, now - SWEEP_INTERVAL],
    );
    if (due === 0) return;
    const missing = await db.query(
      `SELECT DISTINCT r.task_group FROM ${this.t.table} r
       WHERE r.queue = ? AND r.task_group IS NOT NULL AND r.status IN ('pending','scheduled')
         AND NOT EXISTS (SELECT 1 FROM ${this.t.group} g WHERE g.queue = r.queue AND g.task_group = r.task_group)`,
      [queue],
    );
    for (const row of missing)
      await db.execute(this.insertIgnore(this.t.group, 'queue, task_group, turn, touched', '?, ?, ?, 0'), [
        queue,
        row['task_group'],
        now * TURN,
      ]);
  }

  /** Mark the taken rows running (at once: the next head read of this transaction must not find them again). */
  private *markRunning(options: ControlledClaimOptions, now: number, ids: string[]): SqlSteps<string[]> {
    if (ids.length === 0) return ids;
    yield* execute(
      `UPDATE ${this.t.table} SET status = 'running', started_at = ?, heartbeat_at = ?, worker_id = ?
       WHERE id IN (${ids.map(() => '?').join(', ')}) AND status IN ('pending','scheduled')`,
      [now, now, options.workerId, ...ids],
    );
    return ids;
  }

  /** Up to `limit` due claimable ids of the queue (of one group, or `null`: of none), in claim order, locked. */
  private *heads(
    options: ControlledClaimOptions,
    group: string | null | undefined,
    limit: number,
    now: number,
    lockRows: string,
  ): SqlSteps<string[]> {
    const backends = this.t.backendFilter(options.executionBackends);
    // A group's head (or the head of the records without one) on the group index; the queue's on the claim index.
    // PostgreSQL orders a group's head by the index's whole key (its leading columns are fixed here): it does not
    // count `task_group IS NULL` as fixing the column and would sort (MariaDB, given the whole key, sorts instead).
    const where =
      group === undefined
        ? this.t.queueOnRow
        : group === null
          ? 'queue = ? AND task_group IS NULL'
          : 'queue = ? AND task_group = ?';
    const fixedPrefix = group !== undefined && this.t.dialect === 'postgres' ? 'queue, task_group, ' : '';
    const order = `${fixedPrefix}priority DESC, queued_at, seq`;
    const rows = yield* query(
      `SELECT id FROM ${this.t.table}${this.t.indexHint(group === undefined ? 'claim' : 'group_ready')}
       WHERE ${where} AND ${this.t.claimable} AND (scheduled_at IS NULL OR scheduled_at <= ?)
         AND (expires_at IS NULL OR expires_at > ?)${backends.where}
       ORDER BY ${order} LIMIT ${Math.floor(limit)}${lockRows}`,
      [options.queue, ...(typeof group === 'string' ? [group] : []), now, now, ...backends.params],
    );
    return rows.map((row) => String(row['id']));
  }

  /**
   * Serve groups in turn order, one record per group per round, skipping groups at their cap, until `room` records
   * are claimed or no group has one to give. The first round reads the line page by page; later rounds (a batch
   * larger than the groups with work) go over the groups that gave a record and have room left. Records without a
   * group take one turn per round, first.
   */
  private *claimByGroup(
    options: ControlledClaimOptions,
    cap: number,
    room: number,
    now: number,
    lockRows: string,
  ): SqlSteps<string[]> {
    const { group: line } = this.t;
    const queue = options.queue;
    const ids: string[] = [];
    const served: string[] = [];
    const take = (group: string | null) => this.takeHead(options, group, now, lockRows, ids);
    let ungrouped = yield* take(null);
    let inHand: Array<{ group: string; running: number }> = [];
    let after: TaskRow | undefined;
    while (ids.length < room) {
      const page = yield* query(
        `SELECT task_group, turn, touched FROM ${line}${this.t.indexHint('group_turn')} WHERE queue = ? AND turn <= ?${
          after ? ' AND (turn > ? OR (turn = ? AND task_group > ?))' : ''
        } ORDER BY turn, task_group LIMIT ${GROUP_PAGE}`,
        after
          ? [queue, eligible(now), after['turn'], after['turn'], after['task_group']]
          : [queue, eligible(now)],
      );
      for (const row of page) {
        if (ids.length >= room) break;
        const group = String(row['task_group']);
        const running = yield* this.runningInGroup(queue, group);
        if (running >= cap) continue;
        if (yield* take(group)) {
          served.push(group);
          if (running + 1 < cap) inHand.push({ group, running: running + 1 });
        } else yield* this.settleIdle(queue, group, n(row, 'touched'), now);
      }
      if (page.length < GROUP_PAGE) break;
      after = page[page.length - 1];
    }
    while (ids.length < room && (inHand.length > 0 || ungrouped)) {
      if (ungrouped) ungrouped = yield* take(null);
      const next: typeof inHand = [];
      for (const held of inHand) {
        if (ids.length >= room) break;
        if (!(yield* take(held.group))) continue;
        if (++held.running < cap) next.push(held);
      }
      inHand = next;
    }
    // Served groups go to the back of the line: behind every group waiting now, even within one millisecond.
    if (served.length > 0) {
      const [last] = yield* query(`SELECT MAX(turn) AS m FROM ${line} WHERE queue = ? AND turn <= ?`, [
        queue,
        eligible(now),
      ]);
      const back = Math.max(now * TURN, n(last, 'm') + 1);
      for (let i = 0; i < served.length; i++)
        yield* execute(`UPDATE ${line} SET turn = ? WHERE queue = ? AND task_group = ?`, [
          back + i,
          queue,
          served[i],
        ]);
    }
    return ids;
  }

  /** Claim the head of a group (or of the records without one) into `ids`; false when it has none due. */
  private *takeHead(
    options: ControlledClaimOptions,
    group: string | null,
    now: number,
    lockRows: string,
    ids: string[],
  ): SqlSteps<boolean> {
    const [id] = yield* this.heads(options, group, 1, now, lockRows);
    if (id === undefined) return false;
    ids.push(...(yield* this.markRunning(options, now, [id])));
    return true;
  }

  /**
   * A group that gave no record: it leaves the line when it has no claimable rows (unless an enqueue touched it
   * since we read it), or waits for its earliest scheduled row.
   */
  private *settleIdle(queue: string, group: string, touched: number, now: number): SqlSteps<void> {
    const [next] = yield* query(
      `SELECT MIN(COALESCE(scheduled_at, 0)) AS due, COUNT(*) AS n FROM ${this.t.table}
       WHERE queue = ? AND task_group = ? AND ${this.t.claimable}`,
      [queue, group],
    );
    if (n(next, 'n') === 0) {
      // A flow's parent waiting for its children becomes due without lining its group up: look again in a second.
      const [waiting] = yield* query(
        `SELECT COUNT(*) AS n FROM ${this.t.table} WHERE queue = ? AND task_group = ? AND status = 'waiting'`,
        [queue, group],
      );
      if (n(waiting, 'n') > 0)
        yield* execute(
          `UPDATE ${this.t.group} SET turn = ? WHERE queue = ? AND task_group = ? AND touched = ?`,
          [(now + WAITING_RECHECK) * TURN, queue, group, touched],
        );
      else
        yield* execute(`DELETE FROM ${this.t.group} WHERE queue = ? AND task_group = ? AND touched = ?`, [
          queue,
          group,
          touched,
        ]);
    } else if (n(next, 'due') > now) {
      yield* execute(
        `UPDATE ${this.t.group} SET turn = ? WHERE queue = ? AND task_group = ? AND touched = ?`,
        [n(next, 'due') * TURN, queue, group, touched],
      );
    }
  }
}
