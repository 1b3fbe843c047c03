// The PostgreSQL floor of enqueueing one at a time: a series of one-row INSERTs, each its own durable commit,
// through the bare `pg` driver with a prepared statement, on a two-column table of its own (primary key, JSON
// payload). A queue that commits every enqueue before returning cannot beat this on the same server, so
// floor ÷ peer bounds the single-enqueue ratio any PostgreSQL queue can reach against that peer.
import { FLOOR_INSERTS, PG_URL, uniqueName } from '../config.mjs';
import { median, rate } from '../measure.mjs';

const SERIES = 3;

/** { rate: median jobs/s over SERIES series, synchronousCommit: the server's setting }. */
export async function runFloor() {
  const { default: pg } = await import('pg');
  const client = new pg.Client(PG_URL);
  await client.connect();
  const table = uniqueName('benchfloor');
  try {
    await client.query(`CREATE TABLE "${table}" (id uuid PRIMARY KEY, payload jsonb NOT NULL)`);
    const insert = { name: 'floor-insert', text: `INSERT INTO "${table}" (id, payload) VALUES ($1, $2)` };
    const rates = [];
    // One series more than measured: the first warms the driver and the server's plan cache.
    for (let s = 0; s <= SERIES; s++) {
      const t = performance.now();
      for (let i = 0; i < FLOOR_INSERTS; i++) await client.query({ ...insert, values: [crypto.randomUUID(), '{}'] });
      if (s > 0) rates.push(rate(FLOOR_INSERTS, performance.now() - t));
    }
    const [{ synchronous_commit: synchronousCommit }] = (await client.query('SHOW synchronous_commit')).rows;
    return { rate: median(rates), synchronousCommit };
  } finally {
    await client.query(`DROP TABLE IF EXISTS "${table}"`).catch(() => undefined);
    await client.end();
  }
}
