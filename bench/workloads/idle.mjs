// Idle cost: every target's idle worker in a child process of its own (idle-child.mjs), all started first and
// then watched over the same IDLE_S seconds, so each figure is one process's own CPU time and connections and
// the workload costs one window instead of one per target. A child with no target gives the bare floor.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RUN_ID } from '../config.mjs';
import { log } from '../measure.mjs';

const CHILD = fileURLToPath(new URL('./idle-child.mjs', import.meta.url));

let children = 0;
function startChild(name) {
  const env = { ...process.env, BENCH_RUN_ID: `${RUN_ID}i${children++}` };
  const child = spawn(process.execPath, [CHILD, ...(name ? [name] : [])], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const lines = createInterface({ input: child.stdout });
  const next = () =>
    new Promise((resolve, reject) => {
      const onLine = (line) => {
        lines.off('line', onLine);
        child.off('exit', onExit);
        resolve(line);
      };
      const onExit = (code) => {
        lines.off('line', onLine);
        reject(new Error(`idle child ${name ?? '(floor)'} exited with ${code}`));
      };
      lines.on('line', onLine);
      child.once('exit', onExit);
    });
  return { name, child, next };
}

export async function runIdleAll(targets) {
  const children = [startChild(undefined), ...targets.map((t) => startChild(t.name))];
  let live = children;
  const step = async (word) => {
    if (word) for (const c of live) c.child.stdin.write(`${word}\n`);
    const answers = await Promise.allSettled(live.map((c) => c.next()));
    live = live.filter((c, i) => {
      if (answers[i].status === 'fulfilled') return true;
      log(`  idle ${c.name ?? '(floor)'} failed: ${answers[i].reason?.message}`);
      return false;
    });
  };
  await step(undefined); // opened
  await step('start'); // ready
  const results = live.map((c) => c.next());
  for (const c of live) c.child.stdin.write('measure\n');
  const settled = await Promise.allSettled(results);
  const idle = {};
  let floorMs;
  live.forEach((c, i) => {
    if (settled[i].status !== 'fulfilled') return log(`  idle ${c.name ?? '(floor)'} failed: ${settled[i].reason?.message}`);
    const r = JSON.parse(settled[i].value);
    if (c.name) idle[c.name] = r;
    else floorMs = r.cpuMs;
  });
  await Promise.all(live.map((c) => new Promise((resolve) => (c.child.exitCode !== null ? resolve() : c.child.once('exit', resolve)))));
  return { idle, floorMs };
}
