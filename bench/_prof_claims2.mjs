import 'reflect-metadata';
const lib = await import('/work/main/build/src/index.js');
const { Test } = await import('@nestjs/testing');
let done = 0;
class T { async noop() { done++; } }
lib.Task('soak.noop')(T.prototype, 'noop', Object.getOwnPropertyDescriptor(T.prototype, 'noop'));
const worker = { pollInterval: 20, maxPollInterval: 100, heartbeatInterval: 50, staleAfter: 500, staleCheckInterval: 100, shutdownTimeout: 1000, concurrency: 50 };
if (process.env.CLEAN === '1') worker.cleanup = { interval: 500, retention: 1 };
const m = await Test.createTestingModule({ imports: [lib.QueuesModule.forRoot({ queueBackend: { type: 'redis', url: 'redis://127.0.0.1:6390/14', keyPrefix: 'cl_' + Date.now() }, worker, events: { enabled: process.env.EV !== '0' } })], providers: [T] }).compile();
m.useLogger(false);
const b = m.get(lib.QueueBackend);
let claims = 0, empty = 0, refills = 0, refillEmpty = 0;
const orig = b.claimMany.bind(b);
b.claimMany = async (o) => { claims++; const r = await orig(o); if (r.length === 0) empty++; return r; };
const origR = b.completeAndClaim.bind(b);
b.completeAndClaim = async (...a) => { refills++; const r = await origR(...a); if (r.claimed.length === 0) refillEmpty++; return r; };
await m.init();
const q = m.get(lib.QueueService);
const batch = Array.from({ length: 1000 }, () => ({ task: 'soak.noop' }));
let enqueued = 0; const N = 5000; const t = Date.now();
while (enqueued < N) { await q.enqueueMany(batch); enqueued += 1000; while (enqueued - done > 5000) await new Promise(r => setTimeout(r, 5)); }
while (done < N) await new Promise(r => setTimeout(r, 10));
console.log({ ms: Date.now() - t, claims, empty, refills, refillEmpty });
await m.close(); process.exit(0);
