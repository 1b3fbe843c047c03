/** What an execution's state means for its record. */
export type CloudRunOutcome =
  | { state: 'running' }
  | { state: 'succeeded' }
  | { state: 'cancelled' }
  | { state: 'failed'; message: string };

interface ExecutionLike {
  completionTime?: unknown;
  succeededCount?: number | null;
  failedCount?: number | null;
  cancelledCount?: number | null;
  conditions?: Array<{ type?: string | null; state?: unknown; message?: string | null }> | null;
}

/** Map a Cloud Run v2 Execution to an outcome: no completion time means still running. */
export function executionOutcome(execution: ExecutionLike): CloudRunOutcome {
  if (!execution.completionTime) return { state: 'running' };
  if ((execution.cancelledCount ?? 0) > 0) return { state: 'cancelled' };
  if ((execution.failedCount ?? 0) > 0 || !((execution.succeededCount ?? 0) > 0)) {
    const conditions = execution.conditions ?? [];
    const completed = conditions.find((c) => c.type === 'Completed') ?? conditions[conditions.length - 1];
    return {
      state: 'failed',
      message: `Cloud Run execution failed${completed?.message ? `: ${completed.message}` : ''}`,
    };
  }
  return { state: 'succeeded' };
}
