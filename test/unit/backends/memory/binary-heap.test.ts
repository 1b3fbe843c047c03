import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BinaryHeap } from '../../../../src/backends/memory/binary-heap.js';

describe('BinaryHeap', () => {
  test('pops in order through interleaved pushes and pops, duplicates included', () => {
    // A fixed pseudo-random sequence (no Math.random: a failure must repeat).
    let seed = 42;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % 1_000;
    const heap = new BinaryHeap<number>((a, b) => a < b);
    const model: number[] = [];
    for (let step = 0; step < 5_000; step++) {
      if (model.length === 0 || next() % 3 !== 0) {
        const value = next() % 200; // many equal values
        heap.push(value);
        model.push(value);
      } else {
        model.sort((a, b) => a - b);
        assert.equal(heap.peek(), model[0]);
        assert.equal(heap.pop(), model.shift());
      }
      assert.equal(heap.size, model.length);
    }
    model.sort((a, b) => a - b);
    for (const value of model) assert.equal(heap.pop(), value);
    assert.equal(heap.pop(), undefined);
    assert.equal(heap.size, 0);
  });

  test('keeps insertion order among equals when the order breaks ties by sequence (the claim order)', () => {
    const heap = new BinaryHeap<{ priority: number; seq: number }>(
      (a, b) => b.priority < a.priority || (a.priority === b.priority && a.seq < b.seq),
    );
    for (let seq = 0; seq < 1_000; seq++) heap.push({ priority: seq % 3, seq });
    const popped: Array<{ priority: number; seq: number }> = [];
    for (let item = heap.pop(); item; item = heap.pop()) popped.push(item);
    const expected = [...popped].sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    assert.deepEqual(popped, expected);
    assert.equal(popped.length, 1_000);
  });
});
