import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { QueueEventEnvelope } from '../queue-event.js';
import type { QueueEventSink } from '../queue-event-sink.js';
import { RecentIds } from './remote-event-dedup.js';
import { TickBatcher } from './tick-batcher.js';

/** NOTIFY payloads must stay under 8000 bytes; larger envelopes travel in numbered chunks. */
const CHUNK = 1_500; // characters; even all-multibyte or all-escaped text stays under the byte limit
/** Bytes a grouped payload may take (PostgreSQL's limit is 8000). */
const NOTIFY_BYTES = 7_900;
/** Characters of envelopes one group collects before it is checked against NOTIFY_BYTES. */
const GROUP_CHARS = 6_000;
/** How often the transport asks who else LISTENs: while someone does, and while nobody does (see `listening`). */
export const PG_AUDIENCE_CHECK_MS = { heard: 1_000, unheard: 100 };

/**
 * One NOTIFY payload from process `o`: with `e`, the envelopes themselves (a group of small ones); otherwise part
 * `i` of `n` of message `id`, the text `d` (with `b`, that text is an array of envelopes: the earlier group form,
 * still read).
 */
interface EventMessage {
  o: string;
  e?: QueueEventEnvelope[];
  id: string;
  i: number;
  n: number;
  d: string;
  b?: 1;
}

interface PgClientLike {
  connect(): Promise<unknown>;
  query(text: string, values?: unknown[]): Promise<unknown>;
  on(event: string, listener: (...args: any[]) => void): unknown;
  end(): Promise<void>;
}

/**
 * Cross-process events over PostgreSQL NOTIFY on one channel. Envelopes larger than NOTIFY's limit are split
 * into chunks and reassembled by receivers (never dropped). The LISTEN connection reconnects with backoff.
 *
 * With `countOtherListeners`, nothing is NOTIFYed while no other session LISTENs on the channel (`listening`
 * false): asked at open, then every second (every 100 ms while nobody listens). A process that starts LISTENing
 * NOTIFYs an empty group (`{ o, e: [] }`), and one that receives any message of another publishes again at once.
 */
export class PostgresEventTransport implements QueueEventSink {
  /** Envelopes leave in `publish` call order (TickBatcher keeps it), so the bus need not chain them per task. */
  readonly ordered = true;
  private readonly logger = new Logger(PostgresEventTransport.name);
  private readonly seen = new RecentIds();
  private readonly partial = new Map<string, { parts: string[]; received: number; at: number }>();
  private listener: PgClientLike | undefined;
  private closed = false;
  private backoff = 100;
  /** Whether another session may hear a NOTIFY: until a check says otherwise, yes. */
  private others = true;
  /** The LISTEN session's server pid, while it is connected (it is left out of the count of listeners). */
  private ownPid: number | undefined;
  private audienceTimer: NodeJS.Timeout | undefined;
  /**
   * The envelopes (JSON) of one tick share one statement, one round trip and one commit, and several share one
   * NOTIFY: every notification costs the server a queue entry and a signal to each listener, whatever its size.
   */
  private readonly outbox = new TickBatcher<string>((bodies) =>
    this.notifyMany(this.channel, this.payloads(bodies)),
  );
  /** How this process's own notifications start (`o` is written first); they come back to our LISTEN too. */
  private readonly ownPrefix: string;

  constructor(
    private readonly createClient: () => PgClientLike,
    /** NOTIFY each payload on `channel`, in order, atomically (one transaction). */
    private readonly notifyMany: (channel: string, payloads: string[]) => Promise<void>,
    private readonly channel: string,
    private readonly origin: string,
    private readonly onRemote: (event: QueueEventEnvelope) => void,
    /** Sessions other than `ownPid` that LISTEN on the channel; without it the transport always publishes. */
    private readonly countOtherListeners?: (ownPid: number) => Promise<number>,
  ) {
    this.ownPrefix = JSON.stringify({ o: origin }).slice(0, -1);
  }

  async open(): Promise<void> {
    await this.listen();
    if (this.countOtherListeners) await this.checkAudience();
  }

  /**
   * False while no other session LISTENs on the channel (as of the last check): the bus then builds no envelopes
   * for this sink, and `publish` drops what it gets.
   */
  get listening(): boolean {
    return this.others;
  }

  private async checkAudience(): Promise<void> {
    try {
      this.others = this.ownPid === undefined || (await this.countOtherListeners!(this.ownPid)) > 0;
    } catch {
      this.others = true;
    }
    if (this.closed) return;
    this.audienceTimer = setTimeout(
      () => void this.checkAudience(),
      this.others ? PG_AUDIENCE_CHECK_MS.heard : PG_AUDIENCE_CHECK_MS.unheard,
    );
    this.audienceTimer.unref();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = this.createClient();
    const retry = () => {
      if (this.listener !== client || this.closed) return;
      this.listener = undefined;
      this.ownPid = undefined;
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
      const pid = this.countOtherListeners
        ? (
            (await client.query('SELECT pg_backend_pid() AS pid')) as
              { rows?: Array<{ pid: number }> } | undefined
          )?.rows?.[0]?.pid
        : undefined;
      // LISTEN last: other processes recognise a listening session by its last statement (see the bridge).
      await client.query(`LISTEN "${this.channel}"`);
      this.backoff = 100;
      if (pid !== undefined) {
        this.ownPid = pid;
        // Tells the processes that publish nothing (nobody listened) that this one does.
        await this.notifyMany(this.channel, [`${this.ownPrefix},"e":[]}`]).catch(() => undefined);
      }
    } catch (error) {
      this.logger.warn(`LISTEN for events failed (${(error as Error).message}); retrying`);
      retry();
    }
  }

  private receive(payload: string): void {
    if (payload.startsWith(this.ownPrefix)) return; // our own notification: skip the parse
    // Another process publishes, so it LISTENs too: publish again from now on.
    this.others = true;
    try {
      const message = JSON.parse(payload) as EventMessage;
      if (message.e) return this.emitRemote(message.e);
      let entry = this.partial.get(message.id);
      if (!entry)
        this.partial.set(message.id, (entry = { parts: new Array(message.n), received: 0, at: Date.now() }));
      if (entry.parts[message.i] === undefined) {
        entry.parts[message.i] = message.d;
        entry.received++;
      }
      if (entry.received < message.n) return this.dropOldPartials();
      this.partial.delete(message.id);
      const body = JSON.parse(entry.parts.join('')) as QueueEventEnvelope | QueueEventEnvelope[];
      this.emitRemote(message.b ? (body as QueueEventEnvelope[]) : [body as QueueEventEnvelope]);
    } catch (error) {
      this.logger.warn(`Dropped a malformed event notification: ${(error as Error).message}`);
    }
  }

  private emitRemote(events: QueueEventEnvelope[]): void {
    for (const event of events) if (this.seen.firstTime(event.id)) this.onRemote(event);
  }

  private dropOldPartials(): void {
    const cutoff = Date.now() - 60_000;
    for (const [id, entry] of this.partial) if (entry.at < cutoff) this.partial.delete(id);
  }

  async publish(event: QueueEventEnvelope): Promise<void> {
    if (!this.others) return;
    await this.outbox.add(JSON.stringify(event));
  }

  /**
   * NOTIFY payloads for a tick's envelopes, in order: runs of small ones grouped into one payload each (the
   * envelopes as they are, under `e`: no JSON inside a JSON string, so no escaping and one parse), a large one
   * alone in numbered chunks.
   */
  private payloads(bodies: string[]): string[] {
    const payloads: string[] = [];
    let group: string[] = [];
    let chars = 0;
    const endGroup = () => {
      if (group.length) payloads.push(...this.grouped(group));
      group = [];
      chars = 0;
    };
    for (const body of bodies) {
      if (body.length > CHUNK) {
        endGroup();
        payloads.push(...this.chunked(body));
        continue;
      }
      if (chars + body.length > GROUP_CHARS) endGroup();
      group.push(body);
      chars += body.length + 1;
    }
    endGroup();
    return payloads;
  }

  /** One payload for `bodies`, or two groups' worth when multibyte text took it past NOTIFY_BYTES (never for one). */
  private grouped(bodies: string[]): string[] {
    const payload = `${this.ownPrefix},"e":[${bodies.join(',')}]}`;
    if (bodies.length === 1 || Buffer.byteLength(payload) <= NOTIFY_BYTES) return [payload];
    const half = Math.ceil(bodies.length / 2);
    return [...this.grouped(bodies.slice(0, half)), ...this.grouped(bodies.slice(half))];
  }

  private chunked(body: string): string[] {
    const id = randomUUID();
    const total = Math.ceil(body.length / CHUNK);
    return Array.from({ length: total }, (_, i) =>
      this.message(id, i, total, body.slice(i * CHUNK, (i + 1) * CHUNK)),
    );
  }

  private message(id: string, i: number, n: number, d: string): string {
    return JSON.stringify({ o: this.origin, id, i, n, d });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.audienceTimer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
  }
}
