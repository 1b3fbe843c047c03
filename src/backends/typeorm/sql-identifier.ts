import { QueueConfigurationError } from '../../errors/queue-configuration.error.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,54}$/;

/** The SQL dialects the TypeORM backend speaks. */
export type SqlDialect = 'postgres' | 'mysql' | 'sqlite';

/**
 * Validate a table name (optionally `schema.table`) before it reaches any SQL: letters, digits and `_` only (max 55
 * characters, leaving room for index suffixes). Within those, any name works, reserved words (`select`, `order`)
 * included: the stores quote every identifier with `quoteIdentifier`.
 */
export function validateTableName(name: unknown, path = 'queueBackend.tableName'): string {
  const parts = typeof name === 'string' ? name.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new QueueConfigurationError([
      {
        path,
        message: `${JSON.stringify(name)} is not a valid table name: use letters, digits and _ (optionally schema.table), at most 55 characters, not starting with a digit`,
      },
    ]);
  }
  return name as string;
}

/**
 * A validated name (`table` or `schema.table`) quoted for `dialect`, so a reserved word is read as a name.
 * PostgreSQL folds unquoted names to lower case, and these names were unquoted before: they are quoted in lower case
 * so `MyQueue` still names the table `myqueue`.
 */
export function quoteIdentifier(name: string, dialect: SqlDialect): string {
  return name
    .split('.')
    .map((part) =>
      dialect === 'mysql' ? `\`${part}\`` : `"${dialect === 'postgres' ? part.toLowerCase() : part}"`,
    )
    .join('.');
}
