import type { MigrationInterface, QueryRunner } from 'typeorm';
import { exactCollation, MysqlQueueStore } from './mysql.store.js';
import { PostgresQueueStore } from './postgres.store.js';
import { quoteIdentifier, validateTableName } from './sql-identifier.js';
import type { SqlQueueStore } from './sql-queue.store.js';
import { SqliteQueueStore } from './sqlite.store.js';

/**
 * A TypeORM migration that creates the queue tables and indexes (the DDL of `createSchema`, and the group indexes a
 * store creates at its first grouped claim), for apps that own their migrations:
 * `createQueueTablesMigration('my_queue_table')` returns a class to list in `migrations`.
 */
export function createQueueTablesMigration(tableName = 'nestjs_queue_task', timestamp = 1763769600000) {
  const table = validateTableName(tableName);
  const statementsFor = (type: string, serverVersion: string): string[] => {
    const stub = {} as never;
    if (type === 'mysql' || type === 'mariadb') {
      const mysql = new MysqlQueueStore(table, stub);
      mysql.useCollation(exactCollation(serverVersion));
      return [...mysql.schemaStatements(), ...mysql.groupIndexStatements()];
    }
    const store: SqlQueueStore =
      type === 'postgres'
        ? new PostgresQueueStore(table, stub)
        : new SqliteQueueStore(table, { pragma: () => undefined, prepare: () => stub } as never);
    // The group indexes too: a store on an app-owned schema creates nothing itself (`createsSchema`).
    return [...store.schemaStatements(), ...store.groupIndexStatements()];
  };
  return class CreateQueueTables implements MigrationInterface {
    name = `CreateQueueTables${timestamp}`;
    async up(queryRunner: QueryRunner): Promise<void> {
      const type = queryRunner.connection.options.type;
      // MySQL and MariaDB name their exact (NO PAD) binary collations differently.
      const version =
        type === 'mysql' || type === 'mariadb'
          ? String(
              ((await queryRunner.query('SELECT VERSION() AS version')) as Array<{ version: unknown }>)[0]
                ?.version ?? '',
            )
          : '';
      for (const statement of statementsFor(type, version)) await queryRunner.query(statement);
    }
    async down(queryRunner: QueryRunner): Promise<void> {
      const type = queryRunner.connection.options.type;
      const dialect =
        type === 'postgres' ? 'postgres' : type === 'mysql' || type === 'mariadb' ? 'mysql' : 'sqlite';
      await queryRunner.query(`DROP TABLE IF EXISTS ${quoteIdentifier(`${table}_queue_state`, dialect)}`);
      await queryRunner.query(`DROP TABLE IF EXISTS ${quoteIdentifier(`${table}_schedule`, dialect)}`);
      await queryRunner.query(`DROP TABLE IF EXISTS ${quoteIdentifier(`${table}_log`, dialect)}`);
      await queryRunner.query(`DROP TABLE IF EXISTS ${quoteIdentifier(`${table}_worker`, dialect)}`);
      await queryRunner.query(`DROP TABLE IF EXISTS ${quoteIdentifier(`${table}_flow`, dialect)}`);
      for (const suffix of ['control', 'rate', 'group'])
        await queryRunner.query(`DROP TABLE IF EXISTS ${quoteIdentifier(`${table}_${suffix}`, dialect)}`);
      await queryRunner.query(`DROP TABLE IF EXISTS ${quoteIdentifier(`${table}_lease`, dialect)}`);
      await queryRunner.query(`DROP TABLE IF EXISTS ${quoteIdentifier(table, dialect)}`);
    }
  };
}

/** The migration for the default table. */
export const CreateQueueTables1763769600000 = createQueueTablesMigration();
