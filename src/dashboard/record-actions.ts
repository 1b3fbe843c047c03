import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/** What the dashboard can do to one record. */
export type RecordAction = 'cancel' | 'retry' | 'remove' | 'promote' | 'again';

/** Every record action, in the order the page shows them. */
export const RECORD_ACTIONS: readonly RecordAction[] = ['cancel', 'retry', 'promote', 'again', 'remove'];

/** Statuses each action applies to (the server refuses the rest with a 409; the page shows only these). */
const APPLIES: Record<RecordAction, readonly string[]> = {
  // Anything not finished; a running record is cancelled through its worker's heartbeat fence.
  cancel: ['pending', 'scheduled', 'running', 'waiting'],
  // The same record back in line: only a record that ended without success.
  retry: ['failed', 'cancelled'],
  // A delayed record due now.
  promote: ['scheduled'],
  // A new record with the same task, args and queue: only once this one is over.
  again: ['completed', 'failed', 'cancelled'],
  // Deleting a running record would orphan its run: cancel it first.
  remove: ['pending', 'scheduled', 'waiting', 'completed', 'failed', 'cancelled'],
};

/** The actions that apply to `record` in its status, among those `available` (the package version's calls). */
export function actionsFor(
  record: Pick<QueuedTaskRecord, 'status'>,
  available: (action: RecordAction) => boolean = () => true,
): RecordAction[] {
  return RECORD_ACTIONS.filter((action) => APPLIES[action].includes(record.status) && available(action));
}

/** Narrow an untrusted path segment to an action. */
export function isRecordAction(value: string): value is RecordAction {
  return (RECORD_ACTIONS as readonly string[]).includes(value);
}
