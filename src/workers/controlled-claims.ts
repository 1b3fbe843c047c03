import type { ClaimPolicy, QueueBackend } from '../backends/queue-backend.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { claimPolicyOf, isClaimControlled, type QueuePolicies } from '../options/queue-policy.js';

/**
 * The worker's claims of queues with a policy (module option `queues`: a cluster-wide cap or a rate limit): one
 * `claimControlled` per queue, claim by claim (never into a prefetch buffer, which would hold records past a cap).
 * A queue whose rate limit is spent is not asked again before its window frees: the backend says when, and the
 * worker's idle wait is cut to that time (no polling of the limit).
 */
export class ControlledClaims {
  /** The controlled queues this worker claims, with the policy part the claim enforces. */
  readonly policies: ReadonlyMap<string, ClaimPolicy>;
  /** Epoch ms until which a queue's rate limit allows no start. */
  private readonly limitedUntil = new Map<string, number>();

  constructor(policies: QueuePolicies | undefined, workerQueues: readonly string[] | undefined) {
    const controlled = new Map<string, ClaimPolicy>();
    for (const [queue, policy] of Object.entries(policies ?? {})) {
      if (!isClaimControlled(policy) || (workerQueues && !workerQueues.includes(queue))) continue;
      controlled.set(queue, claimPolicyOf(policy));
    }
    this.policies = controlled;
  }

  get queues(): string[] {
    return [...this.policies.keys()];
  }

  /**
   * Claim up to `room(queue)` records of each controlled queue. `limitedUntil` is called with the time a spent rate
   * limit frees its next start, so the caller can wake then.
   */
  async claim(
    backend: QueueBackend,
    request: { workerId: string; executionBackends: readonly string[] },
    room: (queue: string) => number,
    accept: (records: QueuedTaskRecord[], limit: number) => void,
    limitedUntil: (at: number) => void,
  ): Promise<number> {
    let claimed = 0;
    for (const [queue, policy] of this.policies) {
      const until = this.limitedUntil.get(queue);
      if (until !== undefined && until > Date.now()) continue;
      this.limitedUntil.delete(queue);
      const limit = room(queue);
      if (limit <= 0) continue;
      const result = await backend
        .claimControlled({
          queue,
          policy,
          limit,
          workerId: request.workerId,
          executionBackends: request.executionBackends,
        })
        .catch((error: unknown) => {
          accept([], limit);
          throw error;
        });
      accept(result.claimed, limit);
      claimed += result.claimed.length;
      if (result.rateLimitedUntil !== undefined) {
        this.limitedUntil.set(queue, result.rateLimitedUntil);
        limitedUntil(result.rateLimitedUntil);
      }
    }
    return claimed;
  }
}
