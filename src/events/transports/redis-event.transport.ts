import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { QueueEventEnvelope } from '../queue-event.js';
import type { QueueEventSink } from '../queue-event-sink.js';
import { channelsFor, receivingChannels } from '../event-channels.js';
import { RecentIds } from './remote-event-dedup.js';
import { TickBatcher } from './tick-batcher.js';

/**
 * Cross-process events over Redis pub/sub: each envelope is published to its task, queue and (when asked)
 * global channel; a pattern subscription on the queue channels and one on the global channel hand envelopes
 * from other processes to `onRemote`. Publisher and subscriber are connections of their own; ioredis reconnects and resubscribes.
 */
export class RedisEventTransport implements QueueEventSink {
  private readonly logger = new Logger(RedisEventTransport.name);
  private readonly seen = new RecentIds();
  private subscriber: Redis | undefined;
  /** PUBLISHes of one tick go out in one pipeline: one write, not one per event and channel. */
  private readonly outbox = new TickBatcher<[channel: string, message: string]>(async (messages) => {
    const pipeline = this.publisher.pipeline();
    for (const [channel, message] of messages) pipeline.publish(channel, message);
    const failure = (await pipeline.exec())?.find(([error]) => error);
    if (failure) throw failure[0];
  });
  /** How this process's own messages start; they come back through the pattern subscription. */
  private readonly ownPrefix: string;

  constructor(
    private readonly publisher: Redis,
    private readonly namespace: string,
    private readonly origin: string,
    private readonly publishGlobalLifecycle: boolean,
    private readonly onRemote: (event: QueueEventEnvelope) => void,
  ) {
    this.ownPrefix = JSON.stringify({ origin }).slice(0, -1);
  }

  async open(): Promise<void> {
    const subscriber = this.publisher.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });
    subscriber.on('error', () => undefined);
    subscriber.on('pmessage', (_pattern: string, _channel: string, message: string) => this.receive(message));
    subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    await subscriber.connect();
    const { queuePattern, global } = receivingChannels(this.namespace);
    await subscriber.psubscribe(queuePattern);
    await subscriber.subscribe(global);
    this.subscriber = subscriber;
  }

  private receive(message: string): void {
    if (message.startsWith(this.ownPrefix)) return; // our own echo: skip the parse
    try {
      const { origin, event } = JSON.parse(message) as { origin: string; event: QueueEventEnvelope };
      if (origin !== this.origin && this.seen.firstTime(event.id)) this.onRemote(event);
    } catch (error) {
      this.logger.warn(`Dropped a malformed event message: ${(error as Error).message}`);
    }
  }

  async publish(event: QueueEventEnvelope): Promise<void> {
    const message = JSON.stringify({ origin: this.origin, event });
    const channels = channelsFor(this.namespace, event, this.publishGlobalLifecycle);
    await this.outbox.add(...channels.map((channel): [string, string] => [channel, message]));
  }

  async close(): Promise<void> {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }
}
