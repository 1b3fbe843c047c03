/** Real services the SQL and Redis suites talk to; `scripts/test.mjs` fills these in. */
export const testServices = {
  postgresUrl: process.env.QUEUES_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  mysqlUrl: process.env.QUEUES_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
  redisUrl: process.env.QUEUES_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
};

export type TestService = 'postgres' | 'mysql' | 'redis';

/**
 * `skip` option for `describe`/`test`: a reason string when the service was found unreachable (the test command
 * already failed the run under CI=true), else false.
 */
export function skipUnless(service: TestService): string | false {
  const missing = (process.env.QUEUES_TEST_MISSING_SERVICES ?? '').split(',').filter(Boolean);
  return missing.includes(service) ? `${service} is not reachable (see the SERVICES MISSING line)` : false;
}

/** A short unique suffix for table names, key prefixes and queues, so parallel runs never collide. */
export function uniqueSuffix(): string {
  return `${process.pid.toString(36)}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}
