import type { Cluster, ClusterNode, ClusterOptions, Redis } from 'ioredis';

/** Config of the `redis` and `valkey` queue backends. */
export interface RedisBackendConfig {
  type: 'redis' | 'valkey';
  /** Connection URL, e.g. `redis://127.0.0.1:6379/0`. */
  url?: string;
  /**
   * A client of yours (never closed by us; a subscriber connection is duplicated from it). An ioredis `Cluster`
   * selects the cluster backend (docs/backends/redis.md, "Redis Cluster").
   */
  client?: Redis | Cluster;
  /**
   * A Redis Cluster or Valkey Cluster to connect to: startup nodes and ioredis `ClusterOptions`. Each queue lives in
   * a slot of its own (keys `{<keyPrefix>:<queue>}:…`), global keys in the home slot `{<keyPrefix>}`.
   */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions };
  /** Prefix of every key. @default 'nestjs_queues' */
  keyPrefix?: string;
  /** Pub/sub wakeups for idle workers. @default true */
  notifications?: boolean;
  /** Wakeup channel. @default `<keyPrefix>:wakeup` */
  notificationChannel?: string;
  /**
   * How often the wakeup subscriber checks itself by publishing a token it must receive within 5 s (a half-open
   * connection or a lost subscription is reconnected). @default 15000
   */
  subscriberPingInterval?: number;
  /**
   * How long any call to the server may wait, in ms: for the connection to come back during an outage (ioredis
   * queues commands meanwhile, for good with `maxRetriesPerRequest: null`) or for a reply. Past it the call rejects
   * with `QueueBackendUnavailableError` naming the server; so does opening against a server that cannot be reached,
   * at once when the connection is refused. Applies to a client of yours too (our calls on it), whatever its own
   * `maxRetriesPerRequest`. @default 10000
   */
  commandTimeout?: number;
  /**
   * Replicas that must confirm every state change of a record (enqueue, claim, completion, failure, cancel, ...)
   * before the call resolves: the backend sends `WAIT replicaAcks` behind such scripts in the same pipeline, one WAIT
   * in flight at a time (the calls made meanwhile share the next). A master needs that many live replicas: after a
   * failover the promoted one has one fewer until the dead node returns (docs/backends/redis.md). Redis replicates asynchronously, so without it a failover can lose writes the master had
   * already acknowledged; with it a call whose replicas do not confirm in time rejects with
   * `ReplicationUnconfirmedError` (the write stands on the master). 0 or unset: no WAIT. @default 0
   */
  replicaAcks?: number;
  /** How long each WAIT of `replicaAcks` may take, in ms; below `commandTimeout`. @default 5000 */
  replicaAckTimeout?: number;
}

/** Valkey is the same backend under its own name. */
export type ValkeyBackendConfig = RedisBackendConfig & { type: 'valkey' };
