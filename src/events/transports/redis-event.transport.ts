import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { QueueEventEnvelope } from '../queue-event.js';
import type { QueueEventSink } from '../queue-event-sink.js';
import { channelsFor, receivingChannels } from '../event-channels.js';
import { RecentIds } from './remote-event-dedup.js';
import { TickBatcher } from './tick-batcher.js';

/** Characters of envelopes one grouped message collects before a new one starts. */
const GROUP_CHARS = 64_000;
/** Messages one script call publishes: bounds how long one call holds the server. */
const MESSAGES_PER_CALL = 500;
/** ARGV: channel, message, channel, message, … — PUBLISHed in order. */
const PUBLISH_ALL = `for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return 0`;
const PUBLISH_ALL_COMMAND = 'qPublishEvents';

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
 * The envelopes of one tick go out together: one pipeline, and one message per channel holding all of that
 * channel's envelopes (`{ origin, events }`; a channel with one gets `{ origin, event }`). A worker's queue channel
 * then carries one message per tick instead of one per event, and so does the echo every process receives.
 */
export class RedisEventTransport implements QueueEventSink {
  /** Envelopes leave in `publish` call order (TickBatcher keeps it), so the bus need not chain them per task. */
  readonly ordered = true;
  private readonly logger = new Logger(RedisEventTransport.name);
  private readonly seen = new RecentIds();
  private subscriber: Redis | undefined;
  private readonly outbox = new TickBatcher<[channels: string[], json: string]>(async (items) => {
    // One script call per MESSAGES_PER_CALL messages, pipelined: a flush carries thousands of messages (two task
    // channels per task), and a PUBLISH command each cost the client more than the server's work for them.
    const pipeline = this.publisher.pipeline();
    let args: string[] = [];
    const send = () => {
      (pipeline as unknown as Record<string, (...a: string[]) => unknown>)[PUBLISH_ALL_COMMAND]!(...args);
      args = [];
    };
    for (const [channel, jsons] of groupByChannel(items)) {
      for (const group of inGroups(jsons)) {
        args.push(channel, this.message(group));
        if (args.length >= 2 * MESSAGES_PER_CALL) send();
      }
    }
    if (args.length > 0) send();
    const failure = (await pipeline.exec())?.find(([error]) => error);
    if (failure) throw failure[0];
  });
  /** How this process's own messages start (`{"origin":"…"`); they come back through the pattern subscription. */
  private readonly ownPrefix: string;
  private readonly ownPrefixBytes: Buffer;

  constructor(
    private readonly publisher: Redis,
    private readonly namespace: string,
    private readonly origin: string,
    private readonly publishGlobalLifecycle: boolean,
    private readonly onRemote: (event: QueueEventEnvelope) => void,
  ) {
    this.ownPrefix = JSON.stringify({ origin }).slice(0, -1);
    this.ownPrefixBytes = Buffer.from(this.ownPrefix);
    if (!(PUBLISH_ALL_COMMAND in publisher))
      publisher.defineCommand(PUBLISH_ALL_COMMAND, { numberOfKeys: 0, lua: PUBLISH_ALL });
  }

  async open(): Promise<void> {
    const subscriber = this.publisher.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });
    subscriber.on('error', () => undefined);
    // The Buffer events: our own echo is recognised by its first bytes and never decoded into a string.
    subscriber.on('pmessageBuffer', (_pattern: string, _channel: Buffer, message: Buffer) =>
      this.receive(message),
    );
    subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.receive(message));
    await subscriber.connect();
    const { queuePattern, global } = receivingChannels(this.namespace);
    await subscriber.psubscribe(queuePattern);
    await subscriber.subscribe(global);
    this.subscriber = subscriber;
  }

  private receive(raw: Buffer): void {
    const own = this.ownPrefixBytes;
    if (raw.length >= own.length && raw.compare(own, 0, own.length, 0, own.length) === 0) return; // our own echo
    try {
      const message = JSON.parse(raw.toString()) as EventMessage;
      if (message.origin === this.origin) return;
      const events = message.events ?? (message.event ? [message.event] : []);
      for (const event of events) if (this.seen.firstTime(event.id)) this.onRemote(event);
    } catch (error) {
      this.logger.warn(`Dropped a malformed event message: ${(error as Error).message}`);
    }
  }

  /** Queues the envelope (encoded once, whatever the number of its channels) for this tick's pipeline. */
  async publish(event: QueueEventEnvelope): Promise<void> {
    const channels = channelsFor(this.namespace, event, this.publishGlobalLifecycle);
    await this.outbox.add([channels, JSON.stringify(event)]);
  }

  /** `{"origin":…,"event":…}` for one envelope, `{"origin":…,"events":[…]}` for several; built from their JSON. */
  private message(jsons: string[]): string {
    return jsons.length === 1
      ? `${this.ownPrefix},"event":${jsons[0]}}`
      : `${this.ownPrefix},"events":[${jsons.join(',')}]}`;
  }

  async close(): Promise<void> {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }
}

/** Each channel of a flush with the JSON of its envelopes, channels and envelopes in the order they came. */
function groupByChannel(items: ReadonlyArray<[channels: string[], json: string]>): Map<string, string[]> {
  const byChannel = new Map<string, string[]>();
  for (const [channels, json] of items) {
    for (const channel of channels) {
      const jsons = byChannel.get(channel);
      if (jsons) jsons.push(json);
      else byChannel.set(channel, [json]);
    }
  }
  return byChannel;
}

/** Consecutive runs of `jsons` of at most GROUP_CHARS characters each (a larger envelope alone). */
function inGroups(jsons: string[]): string[][] {
  const groups: string[][] = [];
  let group: string[] = [];
  let chars = 0;
  for (const json of jsons) {
    if (group.length > 0 && chars + json.length > GROUP_CHARS) {
      groups.push(group);
      group = [];
      chars = 0;
    }
    group.push(json);
    chars += json.length + 1;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
