import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { claimOrder, type ClaimPosition } from '../../../../src/backends/memory/claim-order.js';
import { ReadyLine } from '../../../../src/backends/memory/ready-line.js';

type Entry = ClaimPosition;

const sorted = (entries: Entry[]): Entry[] =>
  [...entries].sort((a, b) => b.priority - a.priority || a.queuedAt - b.queuedAt || a.seq - b.seq);

describe('ReadyLine', () => {
  test('pops in claim order through interleaved pushes and pops, in order and out of order mixed', () => {
    // A fixed pseudo-random sequence (no Math.random: a failure must repeat).
    let seed = 7;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % 1_000;
    const line = new ReadyLine<Entry>(claimOrder);
    let model: Entry[] = [];
    let clock = 0;
    for (let seq = 0; seq < 20_000; seq++) {
      const roll = next();
      if (model.length === 0 || roll % 3 !== 0) {
        // Mostly in order (growing queuedAt, one priority); some released claims (an old queuedAt) and priorities.
        const outOfOrder = roll % 10 === 1;
        const entry = {
          priority: roll % 17 === 0 ? next() % 3 : 0,
          queuedAt: outOfOrder ? next() % Math.max(1, clock) : (clock += next() % 3),
          seq,
        };
        line.push(entry);
        model.push(entry);
      } else {
        model = sorted(model);
        assert.equal(line.peek(), model[0]);
        assert.equal(line.pop(), model.shift());
      }
      assert.equal(line.size, model.length);
    }
    for (const entry of sorted(model)) assert.equal(line.pop(), entry);
    assert.equal(line.pop(), undefined);
    assert.equal(line.peek(), undefined);
    assert.equal(line.size, 0);
  });

  test('a long in-order backlog comes out in order across the run compaction, then fills again', () => {
    const line = new ReadyLine<Entry>(claimOrder);
    for (let round = 0; round < 2; round++) {
      const entries = Array.from({ length: 5_000 }, (_, i) => ({ priority: 0, queuedAt: i, seq: i }));
      for (const entry of entries) line.push(entry);
      // A higher priority arriving behind the backlog goes first; an older released one before the rest.
      const urgent = { priority: 5, queuedAt: 9_999, seq: 9_999 };
      const released = { priority: 0, queuedAt: -1, seq: -1 };
      for (let i = 0; i < 3_000; i++) assert.equal(line.pop(), entries[i]);
      line.push(urgent);
      line.push(released);
      assert.equal(line.pop(), urgent);
      assert.equal(line.pop(), released);
      for (let i = 3_000; i < 5_000; i++) assert.equal(line.pop(), entries[i]);
      assert.equal(line.size, 0);
    }
  });
});
