// Shared by the PostgreSQL pricing scripts (pg-insert-variants.mjs, pg-statement-variants.mjs,
// workloads/pg-index-cost.mjs): the server CPU of one connection's backend, and the tables a queue table brings.
import { readFileSync } from 'node:fs';

/** Suffixes of the tables a queue table `T` brings, `T` itself last. */
export const QUEUE_TABLE_SUFFIXES = [
  '_log',
  '_flow',
  '_lease',
  '_queue_state',
  '_schedule',
  '_worker',
  '_control',
  '_rate',
  '_group',
  '',
];

/** A reader of the CPU µs used so far by the server process behind `client` (a `pg` Client; /proc ticks of 10 ms). */
export async function backendCpuReader(client) {
  const pid = (await client.query('SELECT pg_backend_pid() AS p')).rows[0].p;
  return () => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10000;
  };
}
