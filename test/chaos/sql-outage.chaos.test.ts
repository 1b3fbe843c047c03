import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { TypeOrmQueueBackend } from '../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';
import { duplicates, readLedger, startChaosWorker } from './support/processes.js';
import { PROBE_POLL_MS, WakeupProbe, describeSeries, type LatencySeries } from './support/wakeup-probe.js';

const RECORDS = 3_000;
/** The drained records' queue (the wakeup probe's records live in their own). */
const drained = { queue: 'default' };
/** Enqueue→start bound for an idle worker woken by NOTIFY: far below its poll interval ({@link PROBE_POLL_MS}). */
const WAKEUP_P50_MS = 250;
const WAKEUP_MAX_MS = 1_000;

/** Pids of the LISTEN connections on `channel` (every backend instance on the table holds one). */
async function listenerPids(admin: DataSource, channel: string): Promise<number[]> {
  const rows: Array<{ pid: number }> = await admin.query(
    `SELECT pid FROM pg_stat_activity WHERE query = $1 AND state = 'idle'`,
    [`LISTEN "${channel}"`],
  );
  return rows.map((row) => Number(row.pid));
}

/** Kill this scenario's own connections (matched by table name), never anyone else's. */
const killers = {
  postgres: async (admin: DataSource, table: string) => {
    const rows = await admin.query(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE $1`,
      [`%${table}%`],
    );
    return rows.length as number;
  },
  mysql: async (admin: DataSource, table: string) => {
    let killed = 0;
    // An idle MariaDB connection shows no statement, so sample the process list a few times.
    for (let round = 0; round < 20; round++) {
      const rows: Array<{ Id: number; Info: string | null }> = await admin.query('SHOW FULL PROCESSLIST');
      for (const row of rows) {
        if (row.Info?.includes(table) && !row.Info.includes('PROCESSLIST')) {
          await admin.query(`KILL ${Number(row.Id)}`).catch(() => undefined);
          killed++;
        }
      }
      await sleep(25);
    }
    return killed;
  },
};

for (const dialect of ['postgres', 'mysql'] as const) {
  describe(`${dialect} connections killed mid-drain`, { skip: skipUnless(dialect) }, () => {
    test('workers resume by themselves; nothing is lost or left running', { timeout: 120_000 }, async () => {
      const tableName = `outage_${uniqueSuffix()}`;
      const options =
        dialect === 'postgres'
          ? { type: 'postgres', url: testServices.postgresUrl }
          : { type: 'mysql', url: testServices.mysqlUrl };
      const config = { type: 'typeorm', options, tableName };
      const ledger = path.join(mkdtempSync(path.join(tmpdir(), 'outage-')), 'ledger.txt');
      const backend = new TypeOrmQueueBackend(config as never);
      await backend.open();
      const admin = new DataSource(options as never);
      await admin.initialize();
      // PostgreSQL only (the other dialects poll): an idle worker with a 10 s poll interval measures how fast
      // a NOTIFY starts a record, before the kill and after its LISTEN connection is back.
      const probe = dialect === 'postgres' ? await WakeupProbe.start(config) : undefined;
      let baseline: LatencySeries | undefined;
      if (probe)
        baseline = await probe.measure(backend).catch(async (error: unknown) => {
          await probe.close();
          throw error;
        });
      for (let i = 0; i < RECORDS; i += 500) {
        await backend.enqueueMany(
          Array.from({ length: 500 }, (_, j) =>
            newTaskRecord({ taskName: 'chaos.work', args: [i + j], maxRetries: 5 }),
          ),
        );
      }
      const env = {
        CHAOS_TASK_MS: '2',
        CHAOS_CONCURRENCY: '10',
        CHAOS_HEARTBEAT_MS: '500',
        CHAOS_STALE_MS: '5000',
        CHAOS_QUEUES: 'default',
      };
      const workers = [startChaosWorker(config, ledger, env), startChaosWorker(config, ledger, env)];
      try {
        await Promise.all(workers.map((w) => w.ready));
        while (readLedger(ledger).length < RECORDS / 3) await sleep(20);
        const channel = `${tableName}_wakeup`;
        const listenersBefore = probe ? await listenerPids(admin, channel) : [];
        let listenerSeenDown = false;
        const sampler = probe
          ? setInterval(() => (listenerSeenDown ||= !probe.listenerAliveNow()), 2).unref()
          : undefined;
        const killedAt = Date.now();
        const killed = await killers[dialect](admin, tableName);
        let listenerBackMs = 0;
        if (probe) {
          assert.ok(listenersBefore.length >= 2, `LISTEN connections not found: ${listenersBefore.length}`);
          // The signal that the listeners are back: every LISTEN connection of the table is a new one (none of the
          // killed pids, as many as before), and the probe worker's health check reports its listener alive.
          await WakeupProbe.until('the LISTEN connections to come back', async () => {
            const now = await listenerPids(admin, channel);
            return (
              now.length >= listenersBefore.length &&
              !now.some((pid) => listenersBefore.includes(pid)) &&
              (await probe.listenerAlive())
            );
          });
          listenerBackMs = Date.now() - killedAt;
          clearInterval(sampler);
        }
        const deadline = Date.now() + 90_000;
        while ((await backend.getStatistics(drained)).completed < RECORDS) {
          if (Date.now() > deadline)
            throw new Error(`stuck: ${JSON.stringify(await backend.getStatistics(drained))}`);
          await sleep(200);
        }
        const entries = readLedger(ledger);
        const dup = duplicates(entries);
        const lost = RECORDS - new Set(entries.map((e) => e.id)).size;
        console.log(
          `[chaos] ${dialect} connection kill: records=${RECORDS} connections killed=${killed} duplicates=${dup.length} lost=${lost}`,
        );
        assert.ok(killed > 0, 'no connection was killed: the scenario tested nothing');
        assert.equal(lost, 0);
        assert.equal((await backend.getStatistics(drained)).running, 0);
        assert.equal(dup.length, 0, 'an attempt ran twice');
        if (probe && baseline) {
          const recovered = await probe.measure(backend);
          console.log(
            `[chaos] postgres wakeup latency, idle worker polling every ${PROBE_POLL_MS} ms: baseline ${describeSeries(baseline)}; ` +
              `after LISTEN kill ${describeSeries(recovered)} (LISTEN connections killed=${listenersBefore.length}, ` +
              `probe listener seen down=${listenerSeenDown}, all back ${listenerBackMs} ms after the kill)`,
          );
          assert.ok(
            baseline.p50 < WAKEUP_P50_MS,
            `NOTIFY wakeups do not work even before the fault: ${describeSeries(baseline)}`,
          );
          assert.ok(
            recovered.p50 < WAKEUP_P50_MS && recovered.max < WAKEUP_MAX_MS,
            `wakeup latency did not return to normal after the LISTEN connection came back: ${describeSeries(recovered)} ` +
              `(baseline ${describeSeries(baseline)})`,
          );
        }
      } finally {
        for (const worker of workers) worker.child.kill('SIGTERM');
        await Promise.all(workers.map((w) => w.exited));
        await probe?.close();
        await backend.close();
        await admin.query(`DROP TABLE IF EXISTS ${tableName}`);
        await admin.query(`DROP TABLE IF EXISTS ${tableName}_lease`);
        await admin.destroy();
      }
    });
  });
}
