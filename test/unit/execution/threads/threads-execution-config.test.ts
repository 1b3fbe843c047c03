import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueConfigurationError } from '../../../../src/errors/queue-configuration.error.js';
import { resolveThreadsConfig } from '../../../../src/execution/threads/threads-execution.config.js';
import { VALUE_LIMITS } from '../../../../src/options/value-limits.js';

/** This compiled file: the module must exist (its export is looked up only when a thread boots). */
const MODULE = `${import.meta.url}#AppModule`;

describe('threads execution config', () => {
  test('abortGrace and bootTimeout are refused past one timer (2^31 - 1 ms), each named', () => {
    const thirtyDays = 30 * 24 * 3600 * 1000;
    assert.throws(
      () => resolveThreadsConfig({ module: MODULE, abortGrace: thirtyDays, bootTimeout: 2 ** 31 }),
      (error: unknown) => {
        assert.ok(error instanceof QueueConfigurationError);
        assert.deepEqual(
          error.problems.map((p) => p.path),
          ['executionBackend(threads).abortGrace', 'executionBackend(threads).bootTimeout'],
        );
        assert.match(error.problems[1]!.message, /must be at most 2147483647 ms, got 2147483648/);
        return true;
      },
    );
  });

  test('the longest timer and the defaults are taken', () => {
    const longest = resolveThreadsConfig({
      module: MODULE,
      abortGrace: VALUE_LIMITS.maxTimerMs,
      bootTimeout: VALUE_LIMITS.maxTimerMs,
    });
    assert.equal(longest.abortGrace, VALUE_LIMITS.maxTimerMs);
    assert.equal(longest.bootTimeout, VALUE_LIMITS.maxTimerMs);
    const defaults = resolveThreadsConfig({ module: MODULE });
    assert.deepEqual([defaults.abortGrace, defaults.bootTimeout], [5_000, 60_000]);
    assert.throws(
      () => resolveThreadsConfig({ module: MODULE, bootTimeout: 0 }),
      /must be a positive integer/,
    );
  });
});
