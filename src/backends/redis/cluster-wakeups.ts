import type { Logger } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { NotificationWaiters } from '../notification-waiters.js';
import { within } from '../../timing/within.js';
import { SubscriberSelfPing } from './subscriber-self-ping.js';

/** How a message on the home channel that names new queues starts (`queues|a,b`; queue names hold no ','). */
export const QUEUES_ANNOUNCED = 'queues|';

/**
 * Wakeups of a cluster backend through sharded pub/sub (Redis 7+, Valkey): each queue's enqueue scripts SPUBLISH on
 * the shard channel `{P:queue}:wakeup`, in the queue's own slot, so a wakeup travels to that slot's master and its
 * subscribers only, instead of being broadcast to every node over the cluster bus as a PUBLISH is. This process
 * SSUBSCRIBEs to the channel of every queue it knows, through a client with ioredis's `shardedSubscribers` (one
 * subscriber connection per master, moved and resubscribed by ioredis when a failover changes the slot map).
 *
 * Sharded channels have no patterns: a process that adds a queue to the store announces its name on the home slot's
 * shard channel, which every process subscribes to too, and subscribes to the queue's channel on hearing it.
 */
export class ClusterWakeups {
  private readonly waiters = new NotificationWaiters();
  private subscriber: Cluster | undefined;
  private opening: Promise<void> | undefined;
  private readonly queues = new Set<string>();
  private readonly subscribed = new Set<string>();
  private closed = false;

  constructor(
    private readonly client: Cluster,
    /** The shard channel of a queue's wakeups. */
    private readonly channelOf: (queue: string) => string,
    /** The home slot's shard channel, where new queues are announced. */
    private readonly homeChannel: string,
    /** Every queue of the store, read when the subscriptions open. */
    private readonly readQueues: () => Promise<Iterable<string>>,
    /** How long connecting and each SSUBSCRIBE may take, in ms (the backend's `commandTimeout`). */
    private readonly timeout: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Whether the server has sharded pub/sub: `COMMAND INFO SPUBLISH` describes the command on Redis 7+ and Valkey,
   * and answers nil where it does not exist. Asked, not guessed from a version string.
   */
  static async supported(redis: Redis): Promise<boolean> {
    const reply = (await redis.call('COMMAND', 'INFO', 'SPUBLISH')) as unknown[];
    return Array.isArray(reply) && Array.isArray(reply[0]);
  }

  /** Whether every master's subscriber is connected (true before the first wait opens them). */
  get alive(): boolean {
    return !this.subscriber || this.subscriber.status === 'ready';
  }

  /** Queues whose wakeups this process should hear; the new ones are subscribed to at once when already open. */
  watch(queues: Iterable<string>): void {
    let fresh = false;
    for (const queue of queues)
      if (!this.queues.has(queue)) {
        this.queues.add(queue);
        fresh = true;
      }
    if (fresh && this.subscriber && !this.opening) void this.subscribeAll().catch(() => undefined);
  }

  /** As `QueueBackend.waitForNotifications`; the first wait opens the subscriptions. */
  wait(timeout: number, signal?: AbortSignal): Promise<boolean> {
    if (!this.subscriber && !this.opening && !this.closed)
      this.opening = this.open()
        .catch((error: Error) => {
          if (this.closed) return;
          this.logger.warn(
            `Sharded wakeup subscription failed (polling meanwhile; retried at the next wait): ${error.message}`,
          );
          this.subscriber?.disconnect();
          this.subscriber = undefined;
        })
        .finally(() => (this.opening = undefined));
    return this.waiters.wait(timeout, signal);
  }

  /** Wake this process's waiters (its own enqueue). */
  wakeLocal(): void {
    this.waiters.wakeAll(true);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.waiters.wakeAll(false);
    this.subscriber?.disconnect();
    this.subscriber = undefined;
    this.subscribed.clear();
    if (this.opening) await within(this.opening, 1_000, undefined);
  }

  private async open(): Promise<void> {
    const subscriber = this.client.duplicate(undefined, { lazyConnect: true, shardedSubscribers: true });
    subscriber.on('error', () => undefined); // ioredis reconnects and resubscribes; polling covers the gap
    subscriber.on('smessage', (channel: string, message: string) => {
      if (SubscriberSelfPing.isPing(message)) return;
      // A new queue's name, announced by the process that added it: its wakeups come on its own channel from now on.
      if (channel === this.homeChannel && message.startsWith(QUEUES_ANNOUNCED))
        this.watch(message.slice(QUEUES_ANNOUNCED.length).split(','));
      this.waiters.wakeAll(true);
    });
    // ioredis starts one subscriber per master once it has the slot map, after connect() resolved.
    let settled = false;
    const started = new Promise<boolean>((resolve) =>
      subscriber.once('subscribersReady', () => resolve(true)),
    );
    // Later, after a failover ioredis resubscribes on the new masters: a wakeup published meanwhile was missed.
    subscriber.on('subscribersReady', () => {
      if (settled) this.waiters.wakeAll(true);
    });
    this.subscriber = subscriber; // held before it connects, so close() ends it
    const connected = await within(
      subscriber.connect().then(() => started),
      this.timeout,
      false,
    );
    if (!connected) throw new Error(`the cluster's masters did not answer within ${this.timeout} ms`);
    await this.subscribeAll();
    // Queues added before the home channel was heard were announced to nobody here: read them now.
    for (const queue of await this.readQueues()) this.queues.add(queue);
    await this.subscribeAll();
    settled = true;
    this.waiters.wakeAll(true); // a wakeup published before the subscriptions took hold was missed
  }

  /** SSUBSCRIBE each watched queue's channel not subscribed yet (one call per channel: one slot per call). */
  private async subscribeAll(): Promise<void> {
    const subscriber = this.subscriber;
    if (!subscriber) return;
    for (const channel of [this.homeChannel, ...[...this.queues].map(this.channelOf)]) {
      if (this.subscribed.has(channel)) continue;
      this.subscribed.add(channel);
      const done = await within(
        subscriber.ssubscribe(channel).then(() => true),
        this.timeout,
        false,
      ).catch(() => false);
      if (!done) {
        this.subscribed.delete(channel);
        throw new Error(`SSUBSCRIBE ${channel} did not succeed within ${this.timeout} ms`);
      }
    }
  }
}
