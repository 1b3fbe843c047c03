import { Logger } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import type { QueueEventEnvelope } from '../queue-event.js';
import type { QueueEventSink } from '../queue-event-sink.js';
import {
  channelsFor,
  globalChannel,
  receivingChannels,
  shardChannel,
  shardChannelsFor,
} from '../event-channels.js';
import { EVENT_AUDIENCE_LUA } from './redis-event-audience.script.js';
import { PUBLISH_EVENTS_LUA, SPUBLISH_EVENTS_LUA } from './redis-event-publish.script.js';
import { RecentIds } from './remote-event-dedup.js';
import { TickBatcher } from './tick-batcher.js';
import {
  connectWithin,
  duplicateForSubscribing,
  redisCallsOf,
} from '../../backends/redis/redis-connections.js';
import type {
  ShardChannelFamily,
  ShardedEventChannels,
} from '../../backends/redis/sharded-queue-channels.js';
import { within } from '../../timing/within.js';

/** Characters of envelopes one grouped message collects before a new one starts. */
const GROUP_CHARS = 64_000;
/** Envelopes one script call takes: bounds how long one call holds the server. */
const ENVELOPES_PER_CALL = 500;
const PUBLISH_COMMAND = 'qPublishEvents';
const SPUBLISH_COMMAND = 'qSpublishEvents';
/** PUBLISH_EVENTS_LUA declaring one key, so a cluster sends every call to that key's master (see `routeKey`). */
const ROUTED_PUBLISH_COMMAND = 'qPublishEventsRouted';
const AUDIENCE_COMMAND = 'qEventAudience';
/**
 * How often the transport asks Redis whether anyone but itself would hear its events (see `listening`): while
 * someone does (the check's messages then reach every other process), and while nobody does (they reach no one
 * else, and an outside reader that subscribes is heard from within this time).
 */
export const AUDIENCE_CHECK_MS = { heard: 1_000, unheard: 100 };
/**
 * Queue channels one audience check counts on a cluster: a store of more queues is swept over several checks (an
 * outside reader of queue channels only is then heard within AUDIENCE_CHECK_MS × ⌈queues ÷ this⌉), so a check names a
 * bounded number of channels to each node however many queues the store has.
 */
export const QUEUE_CHANNELS_PER_CHECK = 64;
/** A channel segment no real queue or task id has: `normalizeChannelSegment` never leaves a `#`. */
const PROBE_SEGMENT = '#probe';

/** One pub/sub message: one envelope, or (`events`) the envelopes of one flush addressed to that channel. */
interface EventMessage {
  origin: string;
  event?: QueueEventEnvelope;
  events?: QueueEventEnvelope[];
}

/**
 * Cross-process events over Redis pub/sub: each envelope is published to its task, queue and (when asked)
 * global channel; a pattern subscription on the queue channels and one on the global channel hand envelopes
 * from other processes to `onRemote`. Publisher and subscriber are connections of their own; ioredis reconnects and resubscribes.
 *
 * The envelopes of one tick go out together, each encoded once: one message per channel holding all of that
 * channel's envelopes (`{ origin, events }`; a channel with one gets `{ origin, event }`), assembled by a script
 * on the server. A worker's queue channel then carries one message per tick instead of one per event, and so does
 * the echo every process receives.
 *
 * Nothing is published while nobody else would hear it (`listening` false): at open, then every second (every
 * 100 ms while nobody would), the transport asks Redis who would (EVENT_AUDIENCE_LUA). That check's own message,
 * published on the global channel, tells every other process that this one listens: a process that hears any
 * message of another publishes again from then on. So another process of this library is heard from its start, and
 * an outside reader within 100 ms of subscribing. On a cluster without sharded pub/sub, where those counts are one
 * node's, the check runs on every node and sums them (`plainClusterAudience`).
 *
 * On a cluster whose servers have sharded pub/sub (`sharded`), each envelope goes to its queue's shard channel
 * `{P:queue}:<namespace>:events` in the queue's slot (SPUBLISH: to that master and its subscribers only, where a
 * PUBLISH is broadcast to every node), the envelopes that belong to no queue (or global lifecycle) to the home slot's
 * `{P}:<namespace>:events`; it SSUBSCRIBEs to every known queue's channel through the backend's shard channels
 * (`ShardedQueueChannels`, shared with the wakeups: new queues are learnt from their announcements). A record's events
 * share its queue's channel, so they keep their order. No task or plain channel is published there. The audience
 * check works as on one server, across the cluster (`shardedAudience`): its message goes to the home channel, which
 * every other process's transport hears, and the subscribers of the home and every known queue's channel are counted
 * on every node.
 */
export class RedisEventTransport implements QueueEventSink {
  /** Envelopes leave in `publish` call order (TickBatcher keeps it), so the bus need not chain them per task. */
  readonly ordered = true;
  private readonly logger = new Logger(RedisEventTransport.name);
  private readonly seen = new RecentIds();
  private subscriber: Redis | undefined;
  /** Sharded: this transport's channels on the backend's shard subscriber. */
  private family: ShardChannelFamily | undefined;
  /** Whether anyone but this process may hear an event: until a check says otherwise, yes. */
  private others = true;
  private audienceTimer: NodeJS.Timeout | undefined;
  /** Sharded: the queues whose channel had a subscriber besides this process at their last count. */
  private readonly heardQueues = new Set<string>();
  /** Sharded: where the next check's slice of the known queues starts. */
  private sweepAt = 0;
  private closed = false;
  /** A flush is one pipeline of script calls (PUBLISH_EVENTS_LUA), ENVELOPES_PER_CALL envelopes each. */
  private readonly outbox = new TickBatcher<[channels: string[], json: string]>(async (items) => {
    if (this.sharded) return this.flushSharded(this.sharded.client, items);
    const pipeline = this.publisher.pipeline() as unknown as Record<
      string,
      (...args: unknown[]) => unknown
    > & {
      exec(): Promise<Array<[Error | null, unknown]> | null>;
    };
    for (let start = 0; start < items.length; start += ENVELOPES_PER_CALL) {
      const args: unknown[] = [this.ownPrefix, GROUP_CHARS];
      for (const [channels, json] of items.slice(start, start + ENVELOPES_PER_CALL))
        args.push(channels.length, ...channels, json);
      if (this.routeKey) pipeline[ROUTED_PUBLISH_COMMAND]!(this.routeKey, ...args);
      else pipeline[PUBLISH_COMMAND]!(...args);
    }
    const failure = (await pipeline.exec())?.find(([error]) => error);
    if (failure) throw failure[0];
  });
  /**
   * On a cluster without sharded pub/sub, the key whose master publishes every flush: a keyless call goes to any
   * node, and messages PUBLISHed on different nodes reach a subscriber in no set order (seen: a record's
   * task.completed before its task.started). One node keeps this process's events in `publish` order.
   */
  private readonly routeKey: string | undefined;
  /** How this process's own messages start (`{"origin":"…"`); they come back through the pattern subscription. */
  private readonly ownPrefix: string;
  private readonly ownPrefixBytes: Buffer;

  constructor(
    private readonly publisher: Redis,
    private readonly namespace: string,
    origin: string,
    private readonly publishGlobalLifecycle: boolean,
    private readonly onRemote: (event: QueueEventEnvelope) => void,
    /** A cluster's sharded pub/sub, when its servers have it: shard channels instead of plain ones. */
    private readonly sharded?: ShardedEventChannels,
  ) {
    this.ownPrefix = JSON.stringify({ origin }).slice(0, -1);
    this.ownPrefixBytes = Buffer.from(this.ownPrefix);
    if (!(PUBLISH_COMMAND in publisher))
      publisher.defineCommand(PUBLISH_COMMAND, { numberOfKeys: 0, lua: PUBLISH_EVENTS_LUA });
    if (!(AUDIENCE_COMMAND in publisher))
      publisher.defineCommand(AUDIENCE_COMMAND, { numberOfKeys: 0, lua: EVENT_AUDIENCE_LUA });
    const cluster = (publisher as unknown as { isCluster?: boolean }).isCluster === true;
    this.routeKey = cluster && !sharded ? `{${namespace}}:events:route` : undefined;
    if (this.routeKey && !(ROUTED_PUBLISH_COMMAND in publisher))
      publisher.defineCommand(ROUTED_PUBLISH_COMMAND, { numberOfKeys: 1, lua: PUBLISH_EVENTS_LUA });
    if (sharded && !(SPUBLISH_COMMAND in sharded.client))
      sharded.client.defineCommand(SPUBLISH_COMMAND, { numberOfKeys: 1, lua: SPUBLISH_EVENTS_LUA });
  }

  /**
   * False while no other process and no outside reader is subscribed to this namespace's channels (as of the last
   * check): the bus then builds no envelopes for this sink, and `publish` drops what it gets.
   */
  get listening(): boolean {
    return this.others;
  }

  async open(): Promise<void> {
    if (this.sharded) await this.openSharded(this.sharded);
    else await this.openPlain();
    // Awaited, so its message has reached every other process of the namespace when `open` returns; bounded like
    // the set-up (an unanswered check counts on someone listening).
    await within(this.checkAudience(), redisCallsOf(this.publisher)?.timeout ?? 5_000, undefined);
  }

  /** Plain pub/sub: a pattern subscription on the queue channels and one on the global channel. */
  private async openPlain(): Promise<void> {
    const subscriber = duplicateForSubscribing(this.publisher);
    subscriber.on('error', () => undefined);
    // The Buffer events: our own echo is recognised by its first bytes and never decoded into a string.
    subscriber.on('pmessageBuffer', (_pattern: string, _channel: Buffer, message: Buffer) =>
      this.receive(message),
    );
    subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.receive(message));
    // Held before it connects, so a close() meanwhile ends it instead of leaving it retrying.
    this.subscriber = subscriber;
    const { queuePattern, global } = receivingChannels(this.namespace);
    // Within the backend's commandTimeout; a failed set-up ends the connection (nothing left reconnecting).
    await connectWithin(subscriber, redisCallsOf(this.publisher), async () => {
      await subscriber.psubscribe(queuePattern);
      await subscriber.subscribe(global);
    });
  }

  /** Sharded: this namespace's channel of every known queue and the home slot's, on the backend's shard subscriber. */
  private async openSharded(sharded: ShardedEventChannels): Promise<void> {
    this.family = {
      channelOf: (queue) => shardChannel(sharded.hashTagOf(queue), this.namespace),
      home: shardChannel(sharded.hashTagOf(undefined), this.namespace),
      onMessage: (_channel, message) => this.receive(message),
    };
    // Within the backend's commandTimeout (the subscriptions' own bound); a failure fails the open, as plain does.
    await sharded.channels.add(this.family);
  }

  /**
   * One flush on shard channels: a pipeline per channel (a cluster pipeline stays in one slot), the pipelines of
   * different channels at once; each channel's envelopes in `publish` order.
   */
  private async flushSharded(
    client: ShardedEventChannels['client'],
    items: Array<[channels: string[], json: string]>,
  ): Promise<void> {
    const byChannel = new Map<string, string[]>();
    for (const [channels, json] of items)
      for (const channel of channels) {
        const jsons = byChannel.get(channel);
        if (jsons) jsons.push(json);
        else byChannel.set(channel, [json]);
      }
    await Promise.all(
      [...byChannel].map(async ([channel, jsons]) => {
        // One call's worth (a tick's usual flush): the script alone, without a cluster pipeline's per-flush cost.
        if (jsons.length <= ENVELOPES_PER_CALL) {
          const args: unknown[] = [channel, this.ownPrefix, GROUP_CHARS];
          for (const json of jsons) args.push(1, channel, json);
          const call = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
          await call[SPUBLISH_COMMAND]!(...args);
          return;
        }
        const pipeline = client.pipeline() as unknown as Record<string, (...args: unknown[]) => unknown> & {
          exec(): Promise<Array<[Error | null, unknown]> | null>;
        };
        for (let start = 0; start < jsons.length; start += ENVELOPES_PER_CALL) {
          const args: unknown[] = [channel, this.ownPrefix, GROUP_CHARS];
          for (const json of jsons.slice(start, start + ENVELOPES_PER_CALL)) args.push(1, channel, json);
          pipeline[SPUBLISH_COMMAND]!(...args);
        }
        const failure = (await pipeline.exec())?.find(([error]) => error);
        if (failure) throw failure[0];
      }),
    );
  }

  /**
   * Ask Redis who would hear an event of this namespace, besides this process's own subscriber (which hears the
   * check's messages), then again in AUDIENCE_CHECK_MS: while it is not subscribed, or the check fails, count on
   * someone.
   */
  private async checkAudience(): Promise<void> {
    try {
      if (this.sharded) this.others = await this.shardedAudience(this.sharded);
      else if (this.routeKey) this.others = await this.plainClusterAudience();
      else this.others = await this.plainAudience();
    } catch {
      this.others = true;
    }
    if (this.closed) return;
    this.audienceTimer = setTimeout(
      () => void this.checkAudience(),
      this.others ? AUDIENCE_CHECK_MS.heard : AUDIENCE_CHECK_MS.unheard,
    );
    this.audienceTimer.unref();
  }

  /**
   * One server: the probe message on the global channel and two probe channels, whose receiver counts take in every
   * channel and pattern subscriber that could hear an event of the namespace, and the real task and queue channels
   * with a subscriber (EVENT_AUDIENCE_LUA).
   */
  private async plainAudience(): Promise<boolean> {
    const [heard, subscribed] = (await (
      this.publisher as unknown as Record<string, (...args: unknown[]) => Promise<[number, number]>>
    )[AUDIENCE_COMMAND]!(...this.audienceArgs()))!;
    return this.othersAmong(heard, subscribed);
  }

  /**
   * A cluster without sharded pub/sub: a PUBLISH reaches the subscribers of every node but counts those of the node
   * that ran it, and PUBSUB CHANNELS lists that node's, so EVENT_AUDIENCE_LUA runs on every node (masters and
   * replicas) and the counts are summed; every subscriber then hears the probe message once per node. Bounded by
   * AUDIENCE_CHECK_MS.heard, as the sharded check: a node that does not answer leaves the transport counting on someone.
   */
  private async plainClusterAudience(): Promise<boolean> {
    const nodes = (this.publisher as unknown as Cluster).nodes('all');
    if (nodes.length === 0) return true;
    const args = this.audienceArgs();
    const replies = await within(
      Promise.all(
        nodes.map((node) => node.eval(EVENT_AUDIENCE_LUA, 0, ...args) as Promise<[number, number]>),
      ),
      AUDIENCE_CHECK_MS.heard,
      undefined,
    );
    if (!replies) return true;
    const sum = (at: 0 | 1) => replies.reduce((total, reply) => total + Number(reply[at]), 0);
    return this.othersAmong(sum(0), sum(1));
  }

  /** EVENT_AUDIENCE_LUA's ARGV: the probe message, the global and two probe channels, the task and queue globs. */
  private audienceArgs(): string[] {
    const probe = (kind: string) => `${this.namespace}:${kind}:${PROBE_SEGMENT}:events`;
    return [
      `${this.ownPrefix},"events":[]}`,
      globalChannel(this.namespace),
      probe('queue'),
      probe('task'),
      `${this.namespaceGlob}:task:*`,
      `${this.namespaceGlob}:queue:*`,
    ];
  }

  /** Whether EVENT_AUDIENCE_LUA's counts (`heard`, `subscribed`) take in anyone besides this process's subscriber. */
  private othersAmong(heard: number, subscribed: number): boolean {
    // A namespace with glob characters may not match its own pattern subscription: then never count on nobody.
    const own = this.subscriber?.status === 'ready' && this.namespaceGlob === this.namespace ? 2 : 0;
    return own === 0 || heard > own || subscribed > 0;
  }

  private get namespaceGlob(): string {
    return this.namespace.replace(/[*?[\]\\]/g, '\\$&');
  }

  /**
   * A cluster with sharded pub/sub. The probe message goes to the home channel, which every transport of this
   * namespace hears (so another process publishes again on hearing it, as on one server); a SPUBLISH reaches the
   * subscribers of one master, and its receiver count is that node's, so the audience is counted apart: the
   * subscribers of the home channel and of the known queues' channels (up to QUEUE_CHANNELS_PER_CHECK of them a check,
   * in turns), on every node (an outside reader may SSUBSCRIBE to one queue's channel only), less this process's own.
   * Bounded by AUDIENCE_CHECK_MS.heard: a node that does not answer (a failover) leaves the transport counting on
   * someone until one check gets through.
   */
  private async shardedAudience(sharded: ShardedEventChannels): Promise<boolean> {
    const family = this.family;
    if (!family) return true;
    const known = [...sharded.channels.watched];
    let queues = known;
    if (known.length > QUEUE_CHANNELS_PER_CHECK) {
      const start = this.sweepAt % known.length;
      queues = [...known.slice(start), ...known.slice(0, start)].slice(0, QUEUE_CHANNELS_PER_CHECK);
      this.sweepAt = start + QUEUE_CHANNELS_PER_CHECK;
    }
    const channels = [family.home, ...queues.map((queue) => family.channelOf(queue))];
    const counts = await within(
      Promise.all([
        sharded.client.spublish(family.home, `${this.ownPrefix},"events":[]}`),
        sharded.channels.subscriberCounts(channels),
      ]).then(([, counts]) => counts),
      AUDIENCE_CHECK_MS.heard,
      undefined,
    );
    if (!counts) return true;
    const heard = (i: number) => counts[i]! > (sharded.channels.holds(channels[i]!) ? 1 : 0);
    // Queues counted in earlier checks of the sweep keep their answer until their turn comes again.
    for (const [i, queue] of queues.entries())
      if (heard(i + 1)) this.heardQueues.add(queue);
      else this.heardQueues.delete(queue);
    return heard(0) || this.heardQueues.size > 0;
  }

  private receive(raw: Buffer): void {
    const own = this.ownPrefixBytes;
    if (raw.length >= own.length && raw.compare(own, 0, own.length, 0, own.length) === 0) return; // our own echo
    // Another process publishes, so it listens too (its audience check announced it): publish again from now on.
    this.others = true;
    try {
      const message = JSON.parse(raw.toString()) as EventMessage;
      const events = message.events ?? (message.event ? [message.event] : []);
      for (const event of events) if (this.seen.firstTime(event.id)) this.onRemote(event);
    } catch (error) {
      this.logger.warn(`Dropped a malformed event message: ${(error as Error).message}`);
    }
  }

  /** Queues the envelope (encoded once, whatever the number of its channels) for this tick's pipeline. */
  async publish(event: QueueEventEnvelope): Promise<void> {
    if (!this.others) return;
    const channels = this.sharded
      ? shardChannelsFor(this.namespace, event, this.publishGlobalLifecycle, this.sharded.hashTagOf)
      : channelsFor(this.namespace, event, this.publishGlobalLifecycle);
    await this.outbox.add([channels, JSON.stringify(event)]);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.audienceTimer);
    if (this.family) this.sharded?.channels.remove(this.family);
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }
}
