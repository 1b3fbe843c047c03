import type { TaskRow } from './task-row.mapper.js';

/** One statement a transaction's work asks for (`?` placeholders). */
export interface SqlStep {
  kind: 'query' | 'execute';
  sql: string;
  params: unknown[];
}

/**
 * A transaction's work written once for every dialect: a generator that yields its statements and gets back their
 * rows (`query`) or affected row counts (`execute`), driven by `runSteps` (awaiting each statement: PostgreSQL,
 * MySQL) or `runStepsNow` (SQLite, where better-sqlite3 runs a statement synchronously: the whole transaction runs
 * without a yield to the event loop, so a second connection of this process, which waits for SQLite's write lock
 * synchronously, never waits on a transaction that cannot go on until it stops waiting).
 */
export type SqlSteps<T> = Generator<SqlStep, T, unknown>;

/** Rows of a SELECT (or a statement with RETURNING), as a step: `const rows = yield* query(sql, params)`. */
export function* query(sql: string, params: unknown[] = []): Generator<SqlStep, TaskRow[], unknown> {
  return (yield { kind: 'query', sql, params }) as TaskRow[];
}

/** Affected row count of a write, as a step: `const n = yield* execute(sql, params)`. */
export function* execute(sql: string, params: unknown[] = []): Generator<SqlStep, number, unknown> {
  return (yield { kind: 'execute', sql, params }) as number;
}

/** A transaction's statements, asynchronous (see `SqlTx`). */
export interface AsyncStatements {
  query(sql: string, params?: unknown[]): Promise<TaskRow[]>;
  execute(sql: string, params?: unknown[]): Promise<number>;
}

/** A transaction's statements, synchronous (better-sqlite3). */
export interface SyncStatements {
  query(sql: string, params?: unknown[]): TaskRow[];
  execute(sql: string, params?: unknown[]): number;
}

/** Drive `steps`, awaiting each statement. */
export async function runSteps<T>(steps: SqlSteps<T>, db: AsyncStatements): Promise<T> {
  let next = steps.next();
  while (!next.done) {
    const step = next.value;
    next = steps.next(
      step.kind === 'query' ? await db.query(step.sql, step.params) : await db.execute(step.sql, step.params),
    );
  }
  return next.value;
}

/** Drive `steps` synchronously, statement after statement, without a yield to the event loop. */
export function runStepsNow<T>(steps: SqlSteps<T>, db: SyncStatements): T {
  let next = steps.next();
  while (!next.done) {
    const step = next.value;
    next = steps.next(
      step.kind === 'query' ? db.query(step.sql, step.params) : db.execute(step.sql, step.params),
    );
  }
  return next.value;
}
