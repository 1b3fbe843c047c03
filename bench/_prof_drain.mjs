import 'reflect-metadata';
const lib = await import('/work/main/build/src/index.js');
const { Test } = await import('@nestjs/testing');
let done = 0;
class T { async noop() { done++; } }
lib.Task('bench.noop')(T.prototype, 'noop', Object.getOwnPropertyDescriptor(T.prototype, 'noop'));
const kind = process.argv[2] ?? 'memory';
const c = Number(process.argv[3] ?? 50);
const N = Number(process.argv[4] ?? 20000);
const backend = kind === 'memory' ? 'memory' : kind === 'redis' ? { type: 'redis', url: 'redis://127.0.0.1:6379/14', keyPrefix: 'prof_' + Date.now() } : { type: 'typeorm', options: { type: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test', extra: { max: 20 } }, tableName: 'prof_' + Date.now() };
const m = await Test.createTestingModule({ imports: [lib.QueuesModule.forRoot({ queueBackend: backend, events: { enabled: false }, worker: { enabled: false, concurrency: c, prefetch: Number(process.env.PF ?? 0), pollInterval: 20, maxPollInterval: 100, heartbeatInterval: 10000 } })], providers: [T] }).compile();
m.useLogger(false); await m.init();
const q = m.get(lib.QueueService);
const specs = Array.from({ length: 1000 }, () => ({ task: 'bench.noop', args: [] }));
for (let i = 0; i < N; i += 1000) await q.enqueueMany(specs);
const w = m.get(lib.QueueWorker);
const t = performance.now();
w.start();
while (done < N) await new Promise(r => setTimeout(r, 2));
console.log(kind, 'c' + c, 'drain/s', Math.round(N / ((performance.now() - t) / 1000)));
await m.close();
if (backend.tableName) { const pg = (await import('pg')).default; const cl = new pg.Client('postgres://postgres@127.0.0.1:5432/test'); await cl.connect(); await cl.query(`DROP TABLE ${backend.tableName}`); await cl.query(`DROP TABLE IF EXISTS ${backend.tableName}_lease`); await cl.end(); }
process.exit(0);
