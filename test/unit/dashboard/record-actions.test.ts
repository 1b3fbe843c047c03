import assert from 'node:assert/strict';
import { test } from 'node:test';
import { actionsFor, isRecordAction } from '../../../src/dashboard/record-actions.js';
import { TASK_STATUSES } from '../../../src/models/task-status.js';

test('each status offers the actions that apply to it, and a running record only cancel', () => {
  const offered = Object.fromEntries(TASK_STATUSES.map((status) => [status, actionsFor({ status })]));
  assert.deepEqual(offered, {
    pending: ['cancel', 'remove'],
    scheduled: ['cancel', 'promote', 'remove'],
    running: ['cancel'],
    completed: ['again', 'remove'],
    failed: ['retry', 'again', 'remove'],
    cancelled: ['retry', 'again', 'remove'],
    ...(TASK_STATUSES.includes('waiting') ? { waiting: ['cancel', 'remove'] } : {}),
  });
  assert.deepEqual(actionsFor({ status: 'bogus' as never }), []);
});

test('only the known actions are actions', () => {
  for (const action of ['cancel', 'retry', 'promote', 'again', 'remove']) assert.ok(isRecordAction(action));
  for (const other of ['pause', 'constructor', '__proto__', '', 'CANCEL']) assert.ok(!isRecordAction(other));
});
