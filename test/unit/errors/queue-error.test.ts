import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { QueueConfigurationError } from '../../../src/errors/queue-configuration.error.js';
import { TaskTimeoutError } from '../../../src/errors/task-timeout.error.js';
import { assertValidEnqueue } from '../../../src/service/enqueue-options.validator.js';

describe('QueueError as printed', () => {
  test('an error about no task prints no taskName/taskId fields', () => {
    const printed = inspect(
      new QueueConfigurationError([{ path: 'worker.concurrency', message: 'must be ≥ 1' }]),
    );
    assert.match(printed, /worker\.concurrency: must be ≥ 1/);
    assert.doesNotMatch(printed, /taskName|taskId/);
  });

  test('an error about a record carries and prints both', () => {
    const error = new TaskTimeoutError(5, { taskName: 'files.process', taskId: 'abc' });
    assert.equal(error.taskName, 'files.process');
    assert.equal(error.taskId, 'abc');
    assert.match(inspect(error), /taskName: 'files\.process'/);
  });

  test('bad enqueue input says what the user did, not "Invalid queue configuration"', () => {
    assert.throws(
      () => assertValidEnqueue('files.process', ['a'], { priority: 'high' }, ['local']),
      (error: Error) =>
        error instanceof QueueConfigurationError &&
        /^Invalid enqueue of "files\.process": .*priority/.test(error.message) &&
        error.taskName === 'files.process',
    );
  });
});
