// A throwaway redis-server of a bench script's own on a free loopback port (no persistence), so INFO commandstats,
// INFO cpu and its /proc CPU count only that script's work: bench/enqueue-cost.mjs, script-cost.mjs and
// multiqueue-claim.mjs. The admin client is ioredis, loaded from bench/node_modules.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** Starts the server; `admin()` connects a client once it answers; `stop()` ends both. */
export async function startPrivateRedis() {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}/0`;
  let client;
  return {
    url,
    pid: server.pid,
    async admin() {
      const { Redis } = await import('ioredis');
      client = new Redis(url);
      for (let i = 0; i < 50 && client.status !== 'ready'; i++) await sleep(100);
      return client;
    },
    stop() {
      client?.disconnect();
      server.kill();
    },
  };
}
