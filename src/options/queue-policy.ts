import type { ClaimPolicy } from '../backends/queue-backend.js';

/** A rate limit: at most `max` records of the queue start in any `duration` ms, across all processes. */
export interface QueueRateLimit {
  /** Most starts per window (an integer from 1 to 100,000). */
  max: number;
  /** Window length in ms (an integer from 1 to 2^31 - 1, the longest a worker can sleep on one timer). */
  duration: number;
}

/**
 * Cluster-wide control of one queue (module option `queues: { [queue]: QueuePolicy }`). Every cap counts the
 * records of the queue running in every process that shares the queue backend (single-process on `memory`), and
 * holds when several processes claim at once: the check is part of the claim (a Lua script on Redis, a locked
 * control row on SQL). Records of a capped or rate-limited queue are claimed claim by claim (no prefetch).
 * `worker.queueConcurrency` stays the per-process cap on top.
 */
export interface QueuePolicy {
  /** Most records of the queue running at once across all processes. @default no cap */
  concurrency?: number;
  /**
   * Most records of one `EnqueueOptions.group` running at once across all processes. Groups take turns: each claim
   * serves the group whose turn is oldest, so a group with a large backlog does not hold back a group enqueued
   * later by more than one claim round. Records without a group are not capped by this and take turns as one
   * group of their own. @default no cap
   */
  groupConcurrency?: number;
  /** At most `max` starts per `duration` ms across all processes. @default no limit */
  rateLimit?: QueueRateLimit;
  /**
   * Boot the queue paused (see `QueueService.queue(name).pause()`); the pause behaviour itself belongs to the
   * queue handle. @default false
   */
  paused?: boolean;
}

/** The `queues` module option: a policy per queue name. */
export type QueuePolicies = Record<string, QueuePolicy>;

/** Whether a policy changes how the queue is claimed (a cap or a rate limit). */
export function isClaimControlled(policy: QueuePolicy | undefined): boolean {
  return (
    policy !== undefined &&
    (policy.concurrency !== undefined ||
      policy.groupConcurrency !== undefined ||
      policy.rateLimit !== undefined)
  );
}

/** The part of a queue's policy a claim enforces (`claimControlled`, `claimTaskControlled`); `{}` for none. */
export function claimPolicyOf(policy: QueuePolicy | undefined): ClaimPolicy {
  const { concurrency, groupConcurrency, rateLimit } = policy ?? {};
  return {
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(groupConcurrency !== undefined ? { groupConcurrency } : {}),
    ...(rateLimit !== undefined ? { rateLimit: { max: rateLimit.max, duration: rateLimit.duration } } : {}),
  };
}
