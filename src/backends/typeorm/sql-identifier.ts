import { QueueConfigurationError } from '../../errors/queue-configuration.error.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,54}$/;

/**
 * Validate a table name (optionally `schema.table`) before it reaches any SQL. Identifiers are never quoted from
 * user input: anything but letters, digits and `_` (max 55 characters, leaving room for index suffixes) is a
 * configuration error.
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
