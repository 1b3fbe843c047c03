import 'reflect-metadata';
const lib = await import('/work/main/build/src/index.js');
const { Test } = await import('@nestjs/testing');
class T { async noop() {} }
lib.Task('bench.noop')(T.prototype, 'noop', Object.getOwnPropertyDescriptor(T.prototype, 'noop'));
const backend = process.argv[2] === 'memory' ? 'memory' : { type: 'redis', url: 'redis://127.0.0.1:6379/14', keyPrefix: 'prof_' + Date.now() };
const m = await Test.createTestingModule({ imports: [lib.QueuesModule.forRoot({ queueBackend: backend, events: { enabled: false }, worker: { enabled: false } })], providers: [T] }).compile();
m.useLogger(false); await m.init();
const q = m.get(lib.QueueService);
const N = 2000;
let t = performance.now();
for (let i = 0; i < N; i++) await q.enqueue('bench.noop', []);
console.log('service enqueue/s', Math.round(N / ((performance.now() - t) / 1000)));
const b = m.get(lib.QueueBackend);
console.log(b.constructor.name);
if (b.redis) {
  t = performance.now();
  for (let i = 0; i < N; i++) await b.redis.ping();
  console.log('ping/s', Math.round(N / ((performance.now() - t) / 1000)));
}
await m.close();
process.exit(0);
