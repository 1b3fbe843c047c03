import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { QueueEventEnvelope } from '../queue-event.js';
import type { QueueEventSink } from '../queue-event-sink.js';
import { RecentIds } from './remote-event-dedup.js';
import { TickBatcher } from './tick-batcher.js';

/** NOTIFY payloads must stay under 8000 bytes; larger envelopes travel in numbered chunks. */
const CHUNK = 1_500; // characters; even all-multibyte or all-escaped text stays under the byte limit

interface PgClientLike {
  connect(): Promise<unknown>;
  query(text: string, values?: unknown[]): Promise<unknown>;
  on(event: string, listener: (...args: any[]) => void): unknown;
  end(): Promise<void>;
}

/**
 * Cross-process events over PostgreSQL NOTIFY on one channel. Envelopes larger than NOTIFY's limit are split
 * into chunks and reassembled by receivers (never dropped). The LISTEN connection reconnects with backoff.
 */
export class PostgresEventTransport implements QueueEventSink {
  private readonly logger = new Logger(PostgresEventTransport.name);
  private readonly seen = new RecentIds();
  private readonly partial = new Map<string, { parts: string[]; received: number; at: number }>();
  private listener: PgClientLike | undefined;
  private closed = false;
  private backoff = 100;
  /** The NOTIFYs of one tick share one statement: one round trip and one commit, not one per event. */
  private readonly outbox = new TickBatcher<string>((payloads) => this.notifyMany(this.channel, payloads));
  /** How this process's own notifications start (`o` is written first); they come back to our LISTEN too. */
  private readonly ownPrefix: string;

  constructor(
    private readonly createClient: () => PgClientLike,
    /** NOTIFY each payload on `channel`, in order, atomically (one transaction). */
    private readonly notifyMany: (channel: string, payloads: string[]) => Promise<void>,
    private readonly channel: string,
    private readonly origin: string,
    private readonly onRemote: (event: QueueEventEnvelope) => void,
  ) {
    this.ownPrefix = JSON.stringify({ o: origin }).slice(0, -1);
  }

  async open(): Promise<void> {
    await this.listen();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = this.createClient();
    const retry = () => {
      if (this.listener !== client || this.closed) return;
      this.listener = undefined;
      client.end().catch(() => undefined);
      setTimeout(() => void this.listen(), this.backoff).unref();
      this.backoff = Math.min(this.backoff * 2, 5_000);
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (message: { channel: string; payload?: string }) => {
      if (message.channel === this.channel && message.payload) this.receive(message.payload);
    });
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
      this.backoff = 100;
    } catch (error) {
      this.logger.warn(`LISTEN for events failed (${(error as Error).message}); retrying`);
      retry();
    }
  }

  private receive(payload: string): void {
    if (payload.startsWith(this.ownPrefix)) return; // our own notification: skip the parse
    try {
      const message = JSON.parse(payload) as { o: string; id: string; i: number; n: number; d: string };
      if (message.o === this.origin) return;
      let entry = this.partial.get(message.id);
      if (!entry)
        this.partial.set(message.id, (entry = { parts: new Array(message.n), received: 0, at: Date.now() }));
      if (entry.parts[message.i] === undefined) {
        entry.parts[message.i] = message.d;
        entry.received++;
      }
      if (entry.received < message.n) return this.dropOldPartials();
      this.partial.delete(message.id);
      const event = JSON.parse(entry.parts.join('')) as QueueEventEnvelope;
      if (this.seen.firstTime(event.id)) this.onRemote(event);
    } catch (error) {
      this.logger.warn(`Dropped a malformed event notification: ${(error as Error).message}`);
    }
  }

  private dropOldPartials(): void {
    const cutoff = Date.now() - 60_000;
    for (const [id, entry] of this.partial) if (entry.at < cutoff) this.partial.delete(id);
  }

  async publish(event: QueueEventEnvelope): Promise<void> {
    const body = JSON.stringify(event);
    const total = Math.max(1, Math.ceil(body.length / CHUNK));
    const id = randomUUID();
    const payloads: string[] = [];
    for (let i = 0; i < total; i++)
      payloads.push(
        JSON.stringify({ o: this.origin, id, i, n: total, d: body.slice(i * CHUNK, (i + 1) * CHUNK) }),
      );
    await this.outbox.add(...payloads);
  }

  async close(): Promise<void> {
    this.closed = true;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
  }
}
