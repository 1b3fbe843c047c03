import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueConfigurationError } from '../../../src/errors/queue-configuration.error.js';
import type { ExecutionBackend } from '../../../src/execution/execution-backend.js';
import { ExecutionBackends } from '../../../src/execution/execution-backends.js';

const named = (name: unknown) => ({ name }) as unknown as ExecutionBackend;

describe('ExecutionBackends', () => {
  test('a backend name longer than the execution_backend column (64) is refused at bootstrap, named', () => {
    const long = `mine_${'x'.repeat(60)}`; // 65 characters
    assert.throws(
      () => new ExecutionBackends([named('local'), named(long)], 'local'),
      (error: unknown) => {
        assert.ok(error instanceof QueueConfigurationError);
        assert.equal(error.problems.length, 1);
        assert.equal(error.problems[0]!.path, 'executionBackend.name');
        assert.match(
          error.problems[0]!.message,
          /1-64 characters \(it is stored on every record\), got "mine_x/,
        );
        return true;
      },
    );
    assert.throws(() => new ExecutionBackends([named('')], ''), QueueConfigurationError);
    assert.throws(() => new ExecutionBackends([named(undefined)], 'local'), QueueConfigurationError);
  });

  test('names up to 64 characters are taken', () => {
    const longest = 'y'.repeat(64);
    const backends = new ExecutionBackends([named('local'), named(longest)], 'local');
    assert.deepEqual(backends.names(), ['local', longest]);
  });
});
