import 'reflect-metadata';
const lib = await import('/work/main/build/src/index.js');
const { Test } = await import('@nestjs/testing');
class T { async noop() {} }
lib.Task('bench.noop')(T.prototype, 'noop', Object.getOwnPropertyDescriptor(T.prototype, 'noop'));
const backend = { type: 'redis', url: 'redis://127.0.0.1:6379/13', keyPrefix: 'mon_' + Date.now() };
const m = await Test.createTestingModule({ imports: [lib.QueuesModule.forRoot({ queueBackend: backend, events: { enabled: false }, worker: { enabled: false, concurrency: 1, pollInterval: 20, maxPollInterval: 100 } })], providers: [T] }).compile();
m.useLogger(false); await m.init();
const q = m.get(lib.QueueService);
await new Promise(r => setTimeout(r, 500));
console.log('--- enqueue x3');
for (let i = 0; i < 3; i++) await q.enqueue('bench.noop', []);
await new Promise(r => setTimeout(r, 300));
console.log('--- worker start');
const w = m.get(lib.QueueWorker);
w.start();
await new Promise(r => setTimeout(r, 300));
await m.close();
process.exit(0);
