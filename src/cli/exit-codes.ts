/** Exit codes of `nestjs-queues run-task` (DESIGN §6), checked in this order. */
export const RunTaskExit = {
  success: 0,
  failure: 1,
  missingTaskId: 2,
  invalidTaskId: 3,
  missingRecord: 4,
  unknownTask: 5,
  claimLost: 6,
  cancelled: 7,
  missingAppModule: 8,
  /** The record's queue is paused, at a cap or rate-limited: left pending for a later dispatch. */
  refused: 9,
} as const;
