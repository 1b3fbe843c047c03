import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InMemoryQueueBackend } from '../../../src/backends/memory/memory.backend.js';
import type { ClaimManyOptions, CompletionItem } from '../../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../src/models/queued-task-record.js';
import { CompletionBatcher } from '../../../src/workers/completion-batcher.js';

/** A real memory backend whose batched writes wait for the test to let them through. */
class GatedBackend extends InMemoryQueueBackend {
  readonly calls: string[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  failNext = false;
  private gates: Array<() => void> = [];

  override async completeAndClaim(items: readonly CompletionItem[], claim: ClaimManyOptions | undefined) {
    this.calls.push(items.map((item) => item.id));
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise<void>((resolve) => this.gates.push(resolve));
    this.inFlight--;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('connection lost');
    }
    return super.completeAndClaim(items, claim);
  }

  openGate(): void {
    this.gates.shift()?.();
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

async function setup(running: number) {
  const backend = new GatedBackend();
  await backend.open();
  const queue = 'batcher';
  for (let i = 0; i < running + 3; i++)
    await backend.enqueue(newTaskRecord({ taskName: 'noop', queue, args: [i] }));
  const claimedRecords = await backend.claimMany({ limit: running, queues: [queue], workerId: 'w' });
  const released: string[] = [];
  const filled: Array<{ ids: string[]; limit: number }> = [];
  const batcher = new CompletionBatcher(backend, {
    release: (id) => released.push(id),
    reserveClaim: () => ({ limit: 1, queues: [queue], workerId: 'w' }),
    fill: (records: QueuedTaskRecord[], claim) =>
      filled.push({ ids: records.map((r) => r.id), limit: claim.limit }),
  });
  return { backend, batcher, claimedRecords, released, filled };
}

describe('CompletionBatcher', () => {
  test('the first completion is written at once; later ones wait for a free write and go together', async () => {
    const { backend, batcher, claimedRecords: r, released, filled } = await setup(6);
    const outcomes = r.map((record) => batcher.complete(record, { n: record.args[0] }));
    await tick();
    assert.deepEqual(
      backend.calls,
      [[r[0]!.id], [r[1]!.id]],
      'two writes in flight, each started by the first completion that found a write free',
    );
    assert.deepEqual(
      released,
      r.map((record) => record.id),
      'every slot is released at once',
    );
    backend.openGate();
    await tick();
    assert.deepEqual(
      backend.calls[2],
      [r[2]!.id, r[3]!.id, r[4]!.id, r[5]!.id],
      'the waiting ones in one write',
    );
    backend.openGate();
    backend.openGate();
    assert.deepEqual(await Promise.all(outcomes), [true, true, true, true, true, true]);
    assert.equal(backend.maxInFlight, 2);
    assert.deepEqual(
      filled.map((f) => f.ids.length),
      [1, 1, 1],
      'each write claimed for the slot it reserved',
    );
    for (const record of r) assert.equal((await backend.getTask(record.id))!.status, 'completed');
  });

  test('a failed write rejects each of its callers and hands back its claim reservation', async () => {
    const { backend, batcher, claimedRecords: r, filled } = await setup(1);
    backend.failNext = true;
    const outcome = batcher.complete(r[0]!, null);
    await tick();
    backend.openGate();
    await assert.rejects(outcome, /connection lost/);
    assert.deepEqual(filled, [{ ids: [], limit: 1 }]);
    assert.equal((await backend.getTask(r[0]!.id))!.status, 'running', 'nothing was written');
  });

  test('a fenced-off completion resolves false', async () => {
    const { backend, batcher, claimedRecords: r } = await setup(1);
    const outcome = batcher.complete({ ...r[0]!, retryCount: 5 }, null);
    await tick();
    backend.openGate();
    assert.equal(await outcome, false);
  });

  test('completeThen: the callbacks hear the write, after the claim of its batch was handed to the slots', async () => {
    const { backend, batcher, claimedRecords: r, filled } = await setup(2);
    const heard: string[] = [];
    batcher.completeThen(
      r[0]!,
      null,
      (applied) => heard.push(`written ${applied} after ${filled.length} fill(s)`),
      () => heard.push('failed'),
    );
    backend.failNext = true;
    await tick();
    backend.openGate();
    await tick();
    assert.deepEqual(heard, ['failed'], 'a failed write calls failed once, nothing else');
    batcher.completeThen(
      r[1]!,
      null,
      (applied) => heard.push(`written ${applied} after ${filled.length} fill(s)`),
      () => heard.push('failed'),
    );
    await tick();
    backend.openGate();
    await tick();
    assert.deepEqual(heard, ['failed', 'written true after 2 fill(s)']);
    assert.equal((await backend.getTask(r[1]!.id))!.status, 'completed');
  });
});
