import type { Logger } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { within } from '../../timing/within.js';

/** How a message on the announcement channel that names new queues starts (`queues|a,b`; queue names hold no ','). */
export const QUEUES_ANNOUNCED = 'queues|';

/** One use of the per-queue shard channels (wakeups, cross-process events): its channels and their messages. */
export interface ShardChannelFamily {
  /** The shard channel of a queue (in the queue's slot, so it lives on the queue's master). */
  channelOf(queue: string): string;
  /** A channel of the home slot, subscribed to as well (messages that belong to no queue). */
  home: string;
  /** A message of one of this family's channels (the announcements of new queues included, when `home` is theirs). */
  onMessage(channel: string, message: Buffer): void;
  /** ioredis resubscribed after a failover moved slots: messages published meanwhile were missed. */
  onResubscribed?(): void;
}

/** What the cross-process event transport needs to publish and subscribe through a cluster's sharded pub/sub. */
export interface ShardedEventChannels {
  /** The cluster client: SPUBLISH goes to the master of the channel's slot. */
  client: Cluster;
  channels: ShardedQueueChannels;
  /** The hash tag of a queue's slot (`{P:queue}`), or of the home slot (`{P}`) for no queue. */
  hashTagOf(queue: string | undefined): string;
}

/**
 * Sharded pub/sub (SSUBSCRIBE, Redis 7+ and Valkey) of a cluster backend, one subscriber client for every use of it:
 * each queue has a shard channel per family in its own slot, so a message travels to that slot's master and its
 * subscribers only, instead of being broadcast to every node over the cluster bus as a PUBLISH is. The client has
 * ioredis's `shardedSubscribers` (one connection per master, moved and resubscribed by ioredis when a failover
 * changes the slot map).
 *
 * Sharded channels have no patterns: a process that adds a queue to the store announces its name on the home slot's
 * `announceChannel`, which is always subscribed to, and every family subscribes to the queue's channel on hearing it.
 */
export class ShardedQueueChannels {
  private subscriber: Cluster | undefined;
  private opening: Promise<void> | undefined;
  private readonly families: ShardChannelFamily[] = [];
  private readonly byChannel = new Map<string, ShardChannelFamily[]>();
  private readonly queues = new Set<string>();
  private readonly subscribed = new Set<string>();
  private settled = false;
  private closed = false;

  constructor(
    private readonly client: Cluster,
    /** The home slot's channel where new queues are announced. */
    readonly announceChannel: string,
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

  /** Whether every master's subscriber is connected (true before anything opened them). */
  get alive(): boolean {
    return !this.subscriber || this.subscriber.status === 'ready';
  }

  /** The queues whose channels every family hears (the store's, as far as this process knows them). */
  get watched(): ReadonlySet<string> {
    return this.queues;
  }

  /** Whether this process's subscriber holds `channel` now (subscribed to it, and connected). */
  holds(channel: string): boolean {
    return this.subscriber?.status === 'ready' && this.subscribed.has(channel);
  }

  /**
   * How many clients subscribe to each of `channels` across the whole cluster (this process's own subscriber among
   * them): `PUBSUB SHARDNUMSUB` counts the clients of the node asked only (a subscriber may sit on a channel's master
   * or one of its replicas), so every node is asked and the counts are summed. Rejects when a node does not answer,
   * and when the client knows no node (it lost the cluster): no count then.
   */
  async subscriberCounts(channels: readonly string[]): Promise<number[]> {
    const nodes = this.client.nodes('all');
    if (nodes.length === 0) throw new Error('the cluster client knows no node');
    const replies = await Promise.all(
      nodes.map((node) => node.call('PUBSUB', 'SHARDNUMSUB', ...channels) as Promise<Array<string | number>>),
    );
    return channels.map((_, i) => replies.reduce((sum, reply) => sum + Number(reply[2 * i + 1] ?? 0), 0));
  }

  /**
   * Subscribe `family` to the home channel and every known queue's channel, opening the subscriber client first if
   * need be. Rejects when the cluster does not answer within the timeout; `add` again to retry.
   */
  async add(family: ShardChannelFamily): Promise<void> {
    if (!this.families.includes(family)) {
      this.families.push(family);
      for (const channel of [family.home, ...[...this.queues].map((queue) => family.channelOf(queue))])
        this.route(channel, family);
    }
    if (!this.subscriber && !this.opening && !this.closed)
      this.opening = this.open()
        .catch((error: unknown) => {
          this.subscriber?.disconnect();
          this.subscriber = undefined;
          this.subscribed.clear();
          throw error;
        })
        .finally(() => (this.opening = undefined));
    if (this.opening) await this.opening; // which may have subscribed before this family's channels were routed
    await this.subscribeAll();
  }

  /** Stop handing messages to `family` (its channels stay subscribed while the client lives: cheap, and closed soon). */
  remove(family: ShardChannelFamily): void {
    const at = this.families.indexOf(family);
    if (at >= 0) this.families.splice(at, 1);
    for (const [channel, list] of this.byChannel) {
      const kept = list.filter((other) => other !== family);
      if (kept.length) this.byChannel.set(channel, kept);
      else this.byChannel.delete(channel);
    }
  }

  /** Queues whose channels every family should hear; the new ones are subscribed to at once when open. */
  watch(queues: Iterable<string>): void {
    let fresh = false;
    for (const queue of queues)
      if (!this.queues.has(queue)) {
        this.queues.add(queue);
        for (const family of this.families) this.route(family.channelOf(queue), family);
        fresh = true;
      }
    if (fresh && this.subscriber && !this.opening) void this.subscribeAll().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscriber?.disconnect();
    this.subscriber = undefined;
    this.subscribed.clear();
    if (this.opening)
      await within(
        this.opening.catch(() => undefined),
        1_000,
        undefined,
      );
  }

  private route(channel: string, family: ShardChannelFamily): void {
    const list = this.byChannel.get(channel) ?? [];
    if (!list.includes(family)) list.push(family);
    this.byChannel.set(channel, list);
  }

  private async open(): Promise<void> {
    const subscriber = this.client.duplicate(undefined, { lazyConnect: true, shardedSubscribers: true });
    subscriber.on('error', () => undefined); // ioredis reconnects and resubscribes; each family covers the gap
    subscriber.on('smessageBuffer', (channelBytes: Buffer, message: Buffer) => {
      const channel = channelBytes.toString();
      // A new queue's name, announced by the process that added it: its messages come on its own channels from now on.
      if (
        channel === this.announceChannel &&
        message.subarray(0, QUEUES_ANNOUNCED.length).toString() === QUEUES_ANNOUNCED
      )
        this.watch(message.subarray(QUEUES_ANNOUNCED.length).toString().split(','));
      for (const family of this.byChannel.get(channel) ?? []) family.onMessage(channel, message);
    });
    // ioredis starts one subscriber per master once it has the slot map, after connect() resolved.
    const started = new Promise<boolean>((resolve) =>
      subscriber.once('subscribersReady', () => resolve(true)),
    );
    // Later, after a failover ioredis resubscribes on the new masters: a message published meanwhile was missed.
    subscriber.on('subscribersReady', () => {
      if (this.settled) for (const family of this.families) family.onResubscribed?.();
    });
    this.subscriber = subscriber; // held before it connects, so close() ends it
    const connected = await within(
      subscriber.connect().then(() => started),
      this.timeout,
      false,
    );
    if (!connected) throw new Error(`the cluster's masters did not answer within ${this.timeout} ms`);
    await this.subscribeAll();
    // Queues added before the announcement channel was heard were announced to nobody here: read them now.
    this.watch(await this.readQueues());
    await this.subscribeAll();
    this.settled = true;
  }

  /** SSUBSCRIBE each channel not subscribed yet (one call per channel: one slot per call). */
  private async subscribeAll(): Promise<void> {
    const subscriber = this.subscriber;
    if (!subscriber) return;
    for (const channel of [this.announceChannel, ...this.byChannel.keys()]) {
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
