import type { EntityManager } from 'typeorm';
import type { FlowWriteNode } from '../../flows/flow-write.js';
import type { SqlDialect } from './sql-identifier.js';
import type { TaskRow } from './task-row.mapper.js';

/** The round trips the flow statements need: the store's own, or a transaction's. */
export interface SqlRunner {
  query(sql: string, params?: unknown[], manager?: EntityManager): Promise<TaskRow[]>;
  execute(sql: string, params?: unknown[], manager?: EntityManager): Promise<number>;
}

/** Statuses of a record that has not ended (a parent in one of them will still read its children's results). */
const LIVE = `('pending','scheduled','running','waiting')`;
/** Flow links per INSERT (4 parameters each). */
const LINKS_PER_INSERT = 5_000;

/**
 * Flows on SQL (docs/flows.md): the links live in `<table>_flow` (id, parent_id, position, pending_children), one row
 * per record of a flow, so the queue table and its hot statements stay as they were. A child's terminal transition
 * decrements its parent's `pending_children` (never below 0); the statement that brings it to 0 (PostgreSQL: the same
 * statement releases it) or a compare-and-swap on `status = 'waiting'` (MySQL, SQLite) makes the parent due, so it is
 * released exactly once however many workers end its last children at once. The store ends a child and decrements
 * its parent in one transaction (`SqlQueueStore.endChild`); `releaseStranded`, run by stale recovery, stays as a
 * safety net for links written by earlier versions, which decremented after the child's own commit.
 */
export class SqlFlows {
  /** Told the queues of parents just made due, so the backend can wake workers (set by the TypeORM backend). */
  onRelease: (queues: string[]) => void = () => undefined;

  constructor(
    private readonly run: SqlRunner,
    /** The queue table, quoted. */
    private readonly table: string,
    /** The flow table, quoted. */
    readonly flowTable: string,
    /** Its parent index's name, quoted. */
    private readonly parentIndex: string,
    private readonly dialect: SqlDialect,
  ) {}

  /** The index of parents still counting children: the parent index's name with `_waiting` for `_parent`. */
  private get waitingIndex(): string {
    return this.parentIndex.replace(/_parent(["`]?)$/, '_waiting$1');
  }

  /** DDL of the flow table (`IF NOT EXISTS`: older stores get it at open). */
  schemaStatements(): string[] {
    if (this.dialect === 'mysql')
      return [
        `CREATE TABLE IF NOT EXISTS ${this.flowTable} (
          id CHAR(36) NOT NULL PRIMARY KEY, parent_id CHAR(36) NULL, position INT NOT NULL,
          pending_children INT NOT NULL, KEY ${this.parentIndex} (parent_id, position),
          KEY ${this.waitingIndex} (pending_children)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
      ];
    const id = this.dialect === 'postgres' ? 'varchar(36)' : 'TEXT';
    const int = this.dialect === 'postgres' ? 'integer' : 'INTEGER';
    return [
      `CREATE TABLE IF NOT EXISTS ${this.flowTable} (id ${id} PRIMARY KEY, parent_id ${id},
        position ${int} NOT NULL, pending_children ${int} NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${this.parentIndex} ON ${this.flowTable} (parent_id, position)`,
      // The parents still counting children, which stale recovery's sweep reads (the table keeps ended flows too).
      `CREATE INDEX IF NOT EXISTS ${this.waitingIndex} ON ${this.flowTable} (id) WHERE pending_children > 0`,
    ];
  }

  /** Write the links of a flow (inside the transaction that inserts its records). */
  async insertLinks(nodes: readonly FlowWriteNode[], manager?: EntityManager): Promise<void> {
    for (let start = 0; start < nodes.length; start += LINKS_PER_INSERT) {
      const chunk = nodes.slice(start, start + LINKS_PER_INSERT);
      await this.run.execute(
        `INSERT INTO ${this.flowTable} (id, parent_id, position, pending_children) VALUES ${chunk.map(() => '(?, ?, ?, ?)').join(', ')}`,
        chunk.flatMap((node) => [node.record.id, node.parentId, node.position, node.children]),
        manager,
      );
    }
  }

  /**
   * Children ended (one entry per child; a parent may repeat): decrement each parent's counter and release those
   * that reach 0. Parents in id order, so two transactions never take their rows in opposite orders.
   */
  async childrenEnded(
    parentIds: Iterable<string | null | undefined>,
    runner: SqlRunner = this.run,
  ): Promise<void> {
    const released = await this.decrementParents(parentIds, runner);
    if (released.length > 0) this.onRelease(released);
  }

  /**
   * `childrenEnded` without the wakeup: the queues of the parents released, for a caller whose transaction has not
   * committed yet (it calls `onRelease` after the commit, so woken workers find the parent due).
   */
  async decrementParents(
    parentIds: Iterable<string | null | undefined>,
    runner: SqlRunner = this.run,
  ): Promise<string[]> {
    const counts = new Map<string, number>();
    for (const id of parentIds) if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
    const released: string[] = [];
    for (const [parentId, n] of [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (this.dialect === 'postgres') {
        const rows = await runner.query(
          `WITH dec AS (
             UPDATE ${this.flowTable} SET pending_children = GREATEST(pending_children - ?, 0)
             WHERE id = ? AND pending_children > 0 RETURNING id, pending_children)
           UPDATE ${this.table} AS m SET status = ${this.dueStatus('m.')}
           FROM dec WHERE m.id = dec.id AND dec.pending_children = 0 AND m.status = 'waiting'
           RETURNING m.queue`,
          [n, parentId, Date.now()],
        );
        released.push(...rows.map((row) => String(row['queue'])));
        continue;
      }
      const decremented = await runner.execute(
        `UPDATE ${this.flowTable} SET pending_children = CASE WHEN pending_children > ? THEN pending_children - ? ELSE 0 END
         WHERE id = ? AND pending_children > 0`,
        [n, n, parentId],
      );
      if (decremented === 0) continue;
      const [row] = await runner.query(`SELECT pending_children FROM ${this.flowTable} WHERE id = ?`, [
        parentId,
      ]);
      if (Number(row?.['pending_children']) !== 0 || (await this.release(parentId, runner)) === 0) continue;
      const [parent] = await runner.query(`SELECT queue FROM ${this.table} WHERE id = ?`, [parentId]);
      if (parent) released.push(String(parent['queue']));
    }
    return [...new Set(released)];
  }

  /** A child whose parent is not known here (a row that could not be decoded) ended. */
  async childEnded(childId: string): Promise<void> {
    const [row] = await this.run.query(`SELECT parent_id FROM ${this.flowTable} WHERE id = ?`, [childId]);
    const parentId = row?.['parent_id'];
    if (parentId != null) await this.childrenEnded([String(parentId)]);
  }

  /** `waiting` → due, once (compare-and-swap on the status). */
  private release(parentId: string, runner: SqlRunner): Promise<number> {
    return runner.execute(
      `UPDATE ${this.table} SET status = ${this.dueStatus('')} WHERE id = ? AND status = 'waiting'`,
      [Date.now(), parentId],
    );
  }

  /** `pending`, or `scheduled` while the record's own due time lies ahead (one `?`: now). */
  private dueStatus(alias: string): string {
    return `CASE WHEN ${alias}scheduled_at IS NOT NULL AND ${alias}scheduled_at > ? THEN 'scheduled' ELSE 'pending' END`;
  }

  /** The rows of a parent's children, in flow order. */
  listChildren(parentId: string, columns: string): Promise<TaskRow[]> {
    const selected = columns
      .split(',')
      .map((column) => `m.${column.trim()}`)
      .join(', ');
    return this.run.query(
      `SELECT ${selected} FROM ${this.flowTable} f JOIN ${this.table} m ON m.id = f.id
       WHERE f.parent_id = ? ORDER BY f.position`,
      [parentId],
    );
  }

  /**
   * A condition on the queue table's row (`<table>.id`) that holds unless it is a flow child whose parent has not
   * ended: cleanup keeps such children, whose results their parent will read.
   */
  get noLiveParent(): string {
    return `NOT EXISTS (SELECT 1 FROM ${this.flowTable} lf JOIN ${this.table} lp ON lp.id = lf.parent_id
      WHERE lf.id = ${this.table}.id AND lp.status IN ${LIVE})`;
  }

  /** Forget the links of deleted records. */
  async forget(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.run.execute(`DELETE FROM ${this.flowTable} WHERE id IN (${ids.map(() => '?').join(', ')})`, [
      ...ids,
    ]);
  }

  /** Release waiting parents none of whose children lives any more (a decrement lost to a crash); how many. */
  async releaseStranded(limit = 100): Promise<number> {
    const rows = await this.run.query(
      `SELECT f.id FROM ${this.flowTable} f JOIN ${this.table} p ON p.id = f.id
       WHERE f.pending_children > 0 AND p.status = 'waiting'
         AND NOT EXISTS (SELECT 1 FROM ${this.flowTable} c JOIN ${this.table} cm ON cm.id = c.id
                         WHERE c.parent_id = f.id AND cm.status IN ${LIVE})
       LIMIT ${Math.max(1, Math.floor(limit))}`,
    );
    let released = 0;
    for (const row of rows) {
      const id = String(row['id']);
      await this.run.execute(`UPDATE ${this.flowTable} SET pending_children = 0 WHERE id = ?`, [id]);
      released += await this.release(id, this.run);
    }
    return released;
  }
}
