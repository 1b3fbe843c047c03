import type { Redis } from 'ioredis';
import { QueueConfigurationError } from '../../errors/queue-configuration.error.js';
import { ReplicationUnconfirmedError } from '../../errors/replication-unconfirmed.error.js';

/** Default of `replicaAckTimeout`, in ms. */
export const DEFAULT_REPLICA_ACK_TIMEOUT = 5_000;
/** Most replicas `replicaAcks` may require (more than any real deployment runs behind one master). */
const MOST_REPLICAS = 16;

/** A state change waiting to go out with the next WAIT. */
interface PendingWrite {
  command: string;
  /** As the client takes them: an array among them (a flow's arguments) is flattened by ioredis. */
  args: ReadonlyArray<unknown>;
  madeAt: number;
  resolve: (reply: unknown) => void;
  reject: (error: unknown) => void;
}

/** A pipeline as the scripts and WAIT are queued on it. */
type WritePipeline = Record<string, (...args: unknown[]) => unknown> & {
  exec(): Promise<Array<[Error | null, unknown]> | null>;
};

/**
 * Durability on top of Redis's asynchronous replication: after a state-changing call, `WAIT` for `required`
 * replicas to confirm every write the connection made so far; the caller's promise resolves only once they did.
 *
 * The writes and their WAIT go out in one pipeline, so on one connection and in order: the WAIT covers exactly the
 * writes ahead of it, even when the client retries the pipeline on another node after a failover. A WAIT blocks its
 * whole connection until the replicas answer, every other command behind it included, so one WAIT at a time is in
 * flight per backend, per queue's shard on a cluster (group commit): the writes made meanwhile go out together behind the next one. Without that, a master left
 * with no replica to answer (a replica promoted in a failover leaves its new master none) held each call a full
 * `replicaAckTimeout` behind the previous one, and its connection stalled for good. Each WAIT's timeout is what is
 * left of the oldest call's `replicaAckTimeout`, so no call waits longer than that for its confirmation.
 */
export class ReplicaAcks {
  private pending: PendingWrite[] = [];
  private inFlight = false;
  private scheduled = false;

  private constructor(
    readonly required: number,
    readonly timeout: number,
  ) {}

  /**
   * From the backend config: `undefined` when `replicaAcks` is unset or 0 (no WAIT). Checks both values, and that
   * the WAIT fits inside `commandTimeout` (a WAIT cut short by the call bound would read as an outage).
   */
  static fromConfig(
    config: { replicaAcks?: number; replicaAckTimeout?: number },
    commandTimeout: number,
  ): ReplicaAcks | undefined {
    const { replicaAcks, replicaAckTimeout } = config;
    const problems: Array<{ path: string; message: string }> = [];
    if (
      replicaAcks !== undefined &&
      !(Number.isInteger(replicaAcks) && replicaAcks >= 0 && replicaAcks <= MOST_REPLICAS)
    )
      problems.push({
        path: 'queueBackend.replicaAcks',
        message: `must be a whole number of replicas from 0 to ${MOST_REPLICAS}`,
      });
    if (
      replicaAckTimeout !== undefined &&
      !(Number.isInteger(replicaAckTimeout) && replicaAckTimeout > 0 && replicaAckTimeout < commandTimeout)
    )
      problems.push({
        path: 'queueBackend.replicaAckTimeout',
        message: `must be a whole number of ms from 1 to below commandTimeout (${commandTimeout})`,
      });
    if (problems.length) throw new QueueConfigurationError(problems);
    if (!replicaAcks) return undefined;
    return new ReplicaAcks(
      replicaAcks,
      replicaAckTimeout ?? Math.min(DEFAULT_REPLICA_ACK_TIMEOUT, commandTimeout - 1),
    );
  }

  /**
   * Send the script `command` with `args` (its keys first, as the client takes them) in the next group, behind which
   * a WAIT goes; resolve with the script's reply once `required` replicas confirmed, else reject with
   * `ReplicationUnconfirmedError` (the write itself stands on the master).
   */
  confirm(redis: Redis, command: string, args: ReadonlyArray<unknown>, address: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.push({ command, args, madeAt: Date.now(), resolve, reject });
      this.schedule(redis, address);
    });
  }

  /** The calls of one turn of the event loop go out together (a worker completes and claims in one turn). */
  private schedule(redis: Redis, address: string): void {
    if (this.inFlight || this.scheduled) return;
    this.scheduled = true;
    process.nextTick(() => {
      this.scheduled = false;
      void this.flush(redis, address);
    });
  }

  private async flush(redis: Redis, address: string): Promise<void> {
    if (this.inFlight || this.pending.length === 0) return;
    const group = this.pending;
    this.pending = [];
    this.inFlight = true;
    // What is left of the oldest call's replicaAckTimeout (WAIT 0 would wait for good).
    const timeout = Math.max(1, this.timeout - (Date.now() - group[0]!.madeAt));
    try {
      const pipeline = redis.pipeline() as unknown as WritePipeline;
      for (const write of group) pipeline[write.command]!(...write.args);
      pipeline['wait']!(this.required, timeout);
      const replies = (await pipeline.exec()) ?? [];
      const acknowledged = replies[group.length];
      if (!acknowledged) throw new Error(`${group[0]!.command}: the pipeline returned no reply`);
      const count = acknowledged[0] ? undefined : Number(acknowledged[1]);
      group.forEach((write, i) => {
        const [error, reply] = replies[i] ?? [new Error(`${write.command}: the pipeline returned no reply`)];
        if (error) write.reject(error);
        else if (count === undefined) write.reject(acknowledged[0]);
        else if (count < this.required)
          write.reject(new ReplicationUnconfirmedError(address, count, this.required, this.timeout));
        else write.resolve(reply);
      });
    } catch (error) {
      for (const write of group) write.reject(error);
    } finally {
      this.inFlight = false;
      if (this.pending.length) void this.flush(redis, address);
    }
  }
}
