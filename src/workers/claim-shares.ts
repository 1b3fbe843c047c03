import type { QueuePolicies } from '../options/queue-policy.js';
import { ControlledClaims } from './controlled-claims.js';

/**
 * How a worker's queues are claimed. Queues with a cap are claimed claim by claim, for free slots only, and start at
 * once: those with a queue policy (module option `queues`: cluster-wide caps, a rate limit; see `ControlledClaims`)
 * and those with a per-process cap (`worker.queueConcurrency`). The rest, the batched share, is claimed in batches:
 * into the prefetch buffer and with completions. A worker keeps its prefetch for the batched share whatever else it
 * serves (before, one capped queue among its queues took the prefetch of all of them).
 */
export class ClaimShares {
  readonly controlled: ControlledClaims;
  /** Queues with a per-process cap and no policy. */
  readonly capped: readonly string[];
  /**
   * The batched share as a claim filter: the queues to claim (`undefined`: every queue) and those to leave out; or
   * `undefined` when the worker serves capped queues only.
   */
  readonly batched: { queues: readonly string[] | undefined; exclude: readonly string[] } | undefined;
  private readonly claimedOneByOne: ReadonlySet<string>;

  constructor(
    policies: QueuePolicies | undefined,
    workerQueues: readonly string[] | undefined,
    queueConcurrency: Readonly<Record<string, number>>,
  ) {
    this.controlled = new ControlledClaims(policies, workerQueues);
    const controlled = this.controlled.queues;
    this.capped = Object.keys(queueConcurrency).filter(
      (queue) => (!workerQueues || workerQueues.includes(queue)) && !controlled.includes(queue),
    );
    this.claimedOneByOne = new Set([...controlled, ...this.capped]);
    if (!workerQueues) this.batched = { queues: undefined, exclude: [...this.claimedOneByOne] };
    else {
      const rest = workerQueues.filter((queue) => !this.claimedOneByOne.has(queue));
      this.batched = rest.length > 0 ? { queues: rest, exclude: [] } : undefined;
    }
  }

  /** Whether any of the worker's queues is claimed claim by claim. */
  get anyOneByOne(): boolean {
    return this.claimedOneByOne.size > 0;
  }

  /** Whether `queue` is claimed claim by claim. */
  oneByOne(queue: string): boolean {
    return this.claimedOneByOne.has(queue);
  }
}
