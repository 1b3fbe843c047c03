import type { Redis } from 'ioredis';
import { QueueConfigurationError } from '../../errors/queue-configuration.error.js';
import { ReplicationUnconfirmedError } from '../../errors/replication-unconfirmed.error.js';

/** Default of `replicaAckTimeout`, in ms. */
export const DEFAULT_REPLICA_ACK_TIMEOUT = 5_000;
/** Most replicas `replicaAcks` may require (more than any real deployment runs behind one master). */
const MOST_REPLICAS = 16;

/**
 * Durability on top of Redis's asynchronous replication: after a state-changing call, `WAIT` for `required`
 * replicas to confirm every write the connection made so far. The WAIT is sent right behind the call on the same
 * connection, so both share one round trip; the caller's promise resolves only once the replicas confirmed.
 */
export class ReplicaAcks {
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
   * Send `write` and a WAIT behind it; resolve with the write's reply once `required` replicas confirmed, else
   * reject with `ReplicationUnconfirmedError` (the write itself stands on the master).
   */
  async confirm<T>(redis: Redis, write: () => Promise<T>, address: string): Promise<T> {
    const reply = write();
    const acknowledged = redis.wait(this.required, this.timeout);
    const [result, count] = await Promise.all([reply, acknowledged]);
    if (count < this.required)
      throw new ReplicationUnconfirmedError(address, count, this.required, this.timeout);
    return result;
  }

  /**
   * As `confirm`, for a cluster client: the script and the WAIT go in one pipeline, which the client sends to the
   * master of the script's key, so the WAIT asks the replicas of the master that made the write.
   */
  async confirmPipelined(
    redis: Redis,
    command: string,
    args: ReadonlyArray<string | number>,
    address: string,
  ): Promise<unknown> {
    const pipeline = redis.pipeline() as unknown as Record<string, (...a: unknown[]) => unknown> & {
      exec(): Promise<Array<[Error | null, unknown]> | null>;
    };
    pipeline[command]!(...args);
    pipeline['wait']!(this.required, this.timeout);
    const replies = (await pipeline.exec()) ?? [];
    const [written, acknowledged] = replies;
    if (!written || !acknowledged) throw new Error(`${command}: the pipeline returned no reply`);
    if (written[0]) throw written[0];
    if (acknowledged[0]) throw acknowledged[0];
    const count = Number(acknowledged[1]);
    if (count < this.required)
      throw new ReplicationUnconfirmedError(address, count, this.required, this.timeout);
    return written[1];
  }
}
