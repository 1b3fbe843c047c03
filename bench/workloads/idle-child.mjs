// One idle worker in a process of its own (so its CPU time and connections are its alone): opens the target
// named in argv (none: the bare process) and prints `opened`; on `start` it starts a worker of concurrency 10 with
// nothing queued and prints `ready`; on `measure` it prints one JSON line { connections, cpuMs } over IDLE_S seconds.
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { IDLE_S } from '../config.mjs';
import { closeHelpers, serverConnections } from '../servers.mjs';

const name = process.argv[2];
let target;
if (name) {
  const { allTargets } = await import('../targets.mjs');
  target = allTargets.find((t) => t.name === name);
  if (!target) throw new Error(`unknown target ${name}`);
}
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const expect = async (word) => {
  for (let line = await lines.next(); !line.done; line = await lines.next()) if (line.value.trim() === word) return;
  process.exit(1);
};
// Every child opens (and so migrates) before any worker starts: a graphile-worker runner shuts down when another
// one migrates a schema on the same server.
const session = await target?.open();
const phase = await session?.phase({ concurrency: 10 });
process.stdout.write('opened\n');
await expect('start');
await phase?.start(() => undefined);
await sleep(2_000);
process.stdout.write('ready\n');
await expect('measure');
const before = target ? await serverConnections(target.store) : undefined;
const cpu = process.cpuUsage();
await sleep(IDLE_S * 1000);
const used = process.cpuUsage(cpu);
const after = target ? await serverConnections(target.store) : undefined;
process.stdout.write(`${JSON.stringify({ connections: before === undefined ? undefined : Math.max(before, after), cpuMs: (used.user + used.system) / 1000 })}\n`);
try {
  await phase?.stop();
} catch (error) {
  process.stderr.write(`  idle ${name}: stopping failed: ${error?.message ?? error}\n`);
} finally {
  await phase?.close();
  await session?.close();
  await closeHelpers();
}
process.exit(0);
