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

const RECORDS = 3_000;

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
      };
      const workers = [startChaosWorker(config, ledger, env), startChaosWorker(config, ledger, env)];
      try {
        await Promise.all(workers.map((w) => w.ready));
        while (readLedger(ledger).length < RECORDS / 3) await sleep(20);
        const killed = await killers[dialect](admin, tableName);
        const deadline = Date.now() + 90_000;
        while ((await backend.getStatistics()).completed < RECORDS) {
          if (Date.now() > deadline)
            throw new Error(`stuck: ${JSON.stringify(await backend.getStatistics())}`);
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
        assert.equal((await backend.getStatistics()).running, 0);
        assert.equal(dup.length, 0, 'an attempt ran twice');
      } finally {
        for (const worker of workers) worker.child.kill('SIGTERM');
        await Promise.all(workers.map((w) => w.exited));
        await backend.close();
        await admin.query(`DROP TABLE IF EXISTS ${tableName}`);
        await admin.query(`DROP TABLE IF EXISTS ${tableName}_lease`);
        await admin.destroy();
      }
    });
  });
}
