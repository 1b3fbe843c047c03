// Entry point of a task thread (started by `TaskThread`; not part of the public API). It boots the app's module as a
// Nest application context, as `nestjs-queues run-task` does, and runs one record at a time: the method only. The
// main thread claimed the record, heartbeats it, enforces its timeout and writes its outcome.
import 'reflect-metadata';
import type { INestApplicationContext, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { parentPort, workerData } from 'node:worker_threads';
import { taskContextStorage } from '../../context/task-context.storage.js';
import { NonRetryableError } from '../../errors/non-retryable.error.js';
import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { assertJsonSerializable } from '../../serialization/assert-json.js';
import { TaskRegistry } from '../../tasks/task.registry.js';
import { describeError } from '../describe-error.js';
import {
  deserializeError,
  serializeError,
  type ForwardedCall,
  type FromThread,
  type TaskThreadData,
  type ToThread,
} from './thread-messages.js';
import { ThreadTaskContext } from './thread-task-context.js';

const port = parentPort!;
const data = workerData as TaskThreadData;
const post = (message: FromThread) => port.postMessage(message);

// The module option overrides (task-thread-options.ts) turn the worker off; the variable tells user code too.
process.env['NESTJS_QUEUES_WORKER_ENABLED'] = 'false';

let app: INestApplicationContext;
let tasks: TaskRegistry;
let current: ThreadTaskContext | undefined;
let nextCallId = 0;
const calls = new Map<number, { resolve: () => void; reject: (error: unknown) => void }>();

async function boot(): Promise<void> {
  const loaded = (await import(data.moduleUrl)) as Record<string, unknown>;
  const module = loaded[data.exportName];
  if (typeof module !== 'function') {
    throw new Error(
      `${data.moduleUrl} has no export "${data.exportName}" (exports: ${Object.keys(loaded).join(', ') || 'none'})`,
    );
  }
  // abortOnError off: Nest's default answer to a failing bootstrap is process.abort(), which would take the whole
  // process down from a thread.
  app = await NestFactory.createApplicationContext(module as Type, {
    logger: ['error', 'warn'],
    abortOnError: false,
  });
  app.useLogger(data.logLevels);
  tasks = app.get(TaskRegistry);
}

function forward(method: ForwardedCall, args: unknown[]): Promise<void> {
  const callId = ++nextCallId;
  return new Promise<void>((resolve, reject) => {
    calls.set(callId, { resolve, reject });
    post({ kind: 'call', callId, method, args });
  });
}

async function run(record: QueuedTaskRecord): Promise<void> {
  const definition = tasks.find(record.taskName);
  if (!definition) {
    const message = `Task "${record.taskName}" is not registered in the module the threads boot (${data.moduleUrl}#${data.exportName})`;
    post({ kind: 'done', ok: false, error: serializeError(new NonRetryableError(message)) });
    return;
  }
  const context = new ThreadTaskContext(record, forward);
  current = context;
  const args = [...record.args];
  for (const param of [...definition.injectedParams].sort((a, b) => a.index - b.index))
    args.splice(param.index, 0, param.kind === 'context' ? context : record.id);
  try {
    const result = await taskContextStorage.run(context, () => definition.handler(...args));
    const value = result === undefined ? null : result;
    try {
      assertJsonSerializable(value, 'result', record.taskName);
    } catch (error) {
      // As in one thread: a result that cannot be stored fails the record without a retry.
      throw new NonRetryableError(describeError(error));
    }
    post({ kind: 'done', ok: true, value });
  } catch (error) {
    post({ kind: 'done', ok: false, error: serializeError(error) });
  } finally {
    if (current === context) current = undefined;
  }
}

port.on('message', (message: ToThread) => {
  switch (message.kind) {
    case 'run':
      void run(message.record);
      break;
    case 'abort':
      current?.abort(
        deserializeError(message.reason, { taskId: current.taskId, taskName: current.taskName }),
      );
      break;
    case 'reply': {
      const call = calls.get(message.callId);
      calls.delete(message.callId);
      if (message.error) call?.reject(deserializeError(message.error));
      else call?.resolve();
      break;
    }
    case 'close':
      // The app closes what it opened (connections of the module), then the thread ends.
      void (app ? app.close() : Promise.resolve()).finally(() => process.exit(0));
      break;
  }
});

boot().then(
  () => post({ kind: 'ready' }),
  (error: unknown) => post({ kind: 'boot-failed', error: serializeError(error) }),
);
