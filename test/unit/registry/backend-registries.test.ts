import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ExecutionBackend,
  LocalExecutionBackend,
  QueueConfigurationError,
  getExecutionBackend,
  getExecutionBackendClass,
  getQueueBackendClass,
  listExecutionBackends,
  listQueueBackends,
  registerExecutionBackend,
  type QueuedTaskRecord,
  type TaskRunner,
} from '../../../src/index.js';

class EchoExecution extends ExecutionBackend {
  readonly name = 'echo-exec';
  readonly isExternal = false;
  async execute(_runner: TaskRunner, record: QueuedTaskRecord) {
    return record;
  }
}

describe('backend registries', () => {
  test('built-ins are listed and unknown names list the known ones', async () => {
    assert.ok(listQueueBackends().includes('memory'));
    assert.ok(listExecutionBackends().includes('local'));
    assert.ok(listExecutionBackends().includes('immediate'));
    await assert.rejects(getQueueBackendClass('nope'), (error: unknown) => {
      assert.ok(error instanceof QueueConfigurationError);
      assert.match(error.message, /unknown queue backend "nope"; known: .*memory/);
      return true;
    });
    await assert.rejects(
      getExecutionBackendClass('nope'),
      /unknown execution backend "nope"; known: .*local/,
    );
  });

  test('registered classes resolve by name; instances pass through', async () => {
    registerExecutionBackend('echo-exec', EchoExecution);
    assert.equal(await getExecutionBackendClass('echo-exec'), EchoExecution);
    const built = await getExecutionBackend({ type: 'echo-exec' });
    assert.ok(built instanceof EchoExecution);
    const instance = new LocalExecutionBackend();
    assert.equal(await getExecutionBackend(instance), instance);
    assert.throws(() => registerExecutionBackend('bad name!', EchoExecution), QueueConfigurationError);
  });
});
