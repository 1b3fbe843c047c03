import 'reflect-metadata';
const { Redis } = await import('ioredis');
const lib = await import('/work/main/build/src/index.js');
const { Test } = await import('@nestjs/testing');
const { Queue } = await import('bullmq');

class T { async noop() {} }
lib.Task('bench.noop')(T.prototype, 'noop', Object.getOwnPropertyDescriptor(T.prototype, 'noop'));
const pfx = 'cmp_' + Date.now();
const m = await Test.createTestingModule({ imports: [lib.QueuesModule.forRoot({ queueBackend: { type: 'redis', client: new Redis('redis://127.0.0.1:6379/14', {maxRetriesPerRequest: null}), keyPrefix: pfx }, events: { enabled: false }, worker: { enabled: false } })], providers: [T] }).compile();
m.useLogger(false); await m.init();
const q = m.get(lib.QueueService);
const b = m.get(lib.QueueBackend);
const queue = new Queue('cmp', { connection: { host: '127.0.0.1', port: 6379, db: 14, maxRetriesPerRequest: null }, prefix: pfx + 'bull' });
const plain = new Redis('redis://127.0.0.1:6379/14');
const N = 1000;
const time = async (label, fn) => { const t = performance.now(); for (let i = 0; i < N; i++) await fn(i); return [label, Math.round(N / ((performance.now() - t) / 1000))]; };
for (let round = 0; round < 3; round++) {
  const rows = [];
  rows.push(await time('ping(autopipe)', () => b.redis.ping()));
  rows.push(await time('ping(plain)', () => plain.ping()));
  rows.push(await time('ours service', () => q.enqueue('bench.noop', [])));
  rows.push(await time('bull add', () => queue.add('noop', {})));
  console.log(rows.map(([l, v]) => `${l}=${v}`).join('  '));
}
await queue.obliterate({ force: true }); await queue.close(); plain.disconnect();
await m.close();
process.exit(0);
