// This process's CPU per record of one `enqueueMany` of 10,000 on the PostgreSQL backend (ours:postgres, as the main
// table runs it) with the bulk INSERT not sent: its parameters are encoded as node-postgres would (arrays to
// literals) and the server is skipped, so what is measured is the client's share alone (building, validating and
// encoding a bulk), free of the server's and the machine's noise. Run once per build, in turns:
//   QUEUES_TEST_POSTGRES_URL=… BENCH_ONLY=ours:postgres BENCH_BUILD=build-x [N=30] node bench/pg-bulk-client.mjs
// Prints the minimum and median µs per record over the bulks after the first five. `node --cpu-prof` profiles it.
import 'reflect-metadata';
import path from 'node:path';
import { createRequire } from 'node:module';
import { BUILD_DIR, repoDir } from './config.mjs';
import { selectedTargets } from './targets.mjs';

const { PostgresQueueStore } = await import(
  path.resolve(repoDir, BUILD_DIR, 'src/backends/typeorm/postgres.store.js')
);
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js');
const send = PostgresQueueStore.prototype.prepared;
PostgresQueueStore.prototype.prepared = async function (sql, params, manager) {
  if (!(Array.isArray(params[0]) && params[0].length >= 1000)) return send.call(this, sql, params, manager);
  for (const param of params) prepareValue(param);
  return [];
};
const session = await selectedTargets[0].open();
const phase = await session.phase({ concurrency: 1 });
const perRecord = [];
for (let i = 0; i < Number(process.env.N ?? 30); i++) {
  const list = Array.from({ length: 10_000 }, () => ({}));
  const before = process.cpuUsage();
  await phase.enqueueBulk(list);
  const used = process.cpuUsage(before);
  perRecord.push((used.user + used.system) / list.length);
}
const kept = perRecord.slice(5).sort((a, b) => a - b);
console.log(
  `${BUILD_DIR}: client µs/record min ${kept[0].toFixed(2)} median ${kept[Math.floor(kept.length / 2)].toFixed(2)}`,
);
await phase.close();
await session.close();
process.exit(0);
