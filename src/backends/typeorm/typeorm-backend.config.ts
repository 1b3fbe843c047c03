import type { DataSource, DataSourceOptions } from 'typeorm';

/** Config of the `typeorm` queue backend. */
export interface TypeOrmBackendConfig {
  type: 'typeorm';
  /** The app's DataSource (never destroyed by us). */
  dataSource?: DataSource;
  /** Name of a `@nestjs/typeorm` data source to resolve through DI (`'default'` for the unnamed one). */
  dataSourceName?: string;
  /** Options of a DataSource that the backend builds, owns and destroys. */
  options?: DataSourceOptions;
  /** A separate DataSource (or options) for heartbeat writes only; falls back to the main one if it fails to open. */
  heartbeatDataSource?: DataSource | DataSourceOptions;
  /** Queue table. @default 'nestjs_queue_task' */
  tableName?: string;
  /** Create the tables and indexes at open (idempotent). @default true */
  createSchema?: boolean;
  /** PostgreSQL wakeups. @default 'listen_notify' on PostgreSQL, else 'polling' */
  notifyTransport?: 'listen_notify' | 'polling';
  /** NOTIFY channel (PostgreSQL). @default `<tableName>_wakeup` */
  notificationChannel?: string;
  /**
   * PostgreSQL: send the hot statements (enqueue, claim, batched completion) as named prepared statements, parsed
   * and planned once per pooled connection. Turn off behind a pooler that cannot keep them per client (PgBouncer in transaction mode before
   * 1.21, or without `max_prepared_statements`). @default true
   */
  preparedStatements?: boolean;
}

/** Dialects the backend supports, by TypeORM driver type. */
export const SUPPORTED_DRIVERS = ['postgres', 'mysql', 'mariadb', 'better-sqlite3'] as const;

/** The npm package each supported TypeORM driver loads (an optional peer of ours). */
export const DRIVER_PACKAGES: Record<string, string> = {
  postgres: 'pg',
  mysql: 'mysql2',
  mariadb: 'mysql2',
  'better-sqlite3': 'better-sqlite3',
};
