import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const drainScript = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  'support/old-registries-drain.js',
);

describe('a worker whose registries are in the old generation', () => {
  test('its drained tasks die young: a drain promotes a small part of what it allocates', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [drainScript], { timeout: 60_000 });
    const { promotedPerTask } = JSON.parse(stdout.trim().split('\n').pop()!) as { promotedPerTask: number };
    // A drain allocates about 7 KB per no-op task. With the running tasks in `Map`s, V8's replaced tables (the old
    // table keeps its entries and the next table) carried most tasks through every scavenge: about 1.5 KB per task
    // promoted. Without that chain (ChurnMap), under 0.15 KB.
    assert.ok(promotedPerTask < 500, `${promotedPerTask.toFixed(0)} bytes promoted per task`);
  });
});
