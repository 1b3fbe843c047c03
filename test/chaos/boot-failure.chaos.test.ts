import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runUntilExit } from './support/exit-watch.js';
import { skipUnless, type TestService } from '../support/services.js';

const bootScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'failing-boot.js');

/**
 * A boot that QueuesModule fails after its queue backend opened (here a task naming an execution backend the module
 * does not configure) closes the connections it opened: Nest runs no shutdown hook after a failed boot, and
 * `createApplicationContext` never returns the app to close, so before, the pool (and the event transport's
 * connection) kept the process up for good.
 */
describe('a boot failed by QueuesModule leaves no connection open', () => {
  for (const store of ['postgres', 'mysql', 'redis'] as const satisfies readonly TestService[]) {
    test(`${store}: the process exits by itself`, { skip: skipUnless(store), timeout: 60_000 }, async () => {
      const { code, report, exitedAt, output } = await runUntilExit(
        bootScript,
        { BOOT_BACKEND: store },
        30_000,
      );
      assert.equal(report['name'], 'QueueConfigurationError', output);
      assert.match(String(report['message']), /"nowhere" is not configured/);
      assert.notEqual(code, 'running', 'the process was still running 30 s after its boot failed');
      // ioredis lets a closed socket's disconnect timer (2 s) run out; a pool ends at once.
      const lingered = exitedAt - (report['at'] as number);
      assert.ok(lingered < 5_000, `the process lived ${lingered} ms after its boot failed`);
    });
  }
});
