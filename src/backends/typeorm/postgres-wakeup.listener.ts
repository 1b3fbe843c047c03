import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';

/** The subset of a `pg` Client the listener uses. */
export interface PgListenClient {
  connect(): Promise<unknown>;
  query(text: string, values?: unknown[]): Promise<unknown>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
  end(): Promise<void>;
}

/**
 * A dedicated LISTEN connection for wakeups. It reconnects with backoff when the connection errors or ends, and
 * pings itself (a NOTIFY sent through the pool must come back within `pingTimeout`) to detect a listener that died
 * silently. Meanwhile workers keep polling: notifications are hints, never the truth.
 */
export class PostgresWakeupListener {
  private readonly logger = new Logger(PostgresWakeupListener.name);
  private client: PgListenClient | undefined;
  /** The client being connected; only it or `client` may trigger a reconnect. */
  private connecting: PgListenClient | undefined;
  private closed = false;
  private backoff = 100;
  private pingTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pendingPing: { token: string; timer: NodeJS.Timeout } | undefined;
  /** True while LISTEN is established and the last self-ping came back. */
  alive = false;
  /** Whether `start` was called (the LISTEN connection is opened on first use, see TypeOrmQueueBackend). */
  started = false;

  constructor(
    private readonly createClient: () => Promise<PgListenClient>,
    private readonly channel: string,
    private readonly sendNotify: (channel: string, payload: string) => Promise<void>,
    private readonly onWake: (payload: string) => void,
    private readonly options: { pingInterval?: number; pingTimeout?: number } = {},
  ) {}

  /**
   * Connect and LISTEN (retrying in the background on failure), then self-ping on an interval. Never throws; a
   * second call does nothing.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.connect();
    if (this.closed) return; // closed while the first connection was being made
    this.pingTimer = setInterval(() => void this.ping(), this.options.pingInterval ?? 15_000);
    this.pingTimer.unref();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let client: PgListenClient | undefined;
    try {
      client = await this.createClient();
      this.connecting = client;
      client.on('error', () => this.reconnect(client));
      client.on('end', () => this.reconnect(client));
      client.on('notification', (message) => {
        if (message.channel !== this.channel) return;
        if (this.pendingPing && message.payload === this.pendingPing.token) {
          clearTimeout(this.pendingPing.timer);
          this.pendingPing = undefined;
          this.alive = true;
          return;
        }
        this.onWake(message.payload ?? '');
      });
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
      if (this.closed || this.connecting !== client) {
        // Closed, or given up on (it errored), while connecting: nobody would ever end it.
        await client.end().catch(() => undefined);
        return;
      }
      this.connecting = undefined;
      this.client = client;
      this.alive = true;
      this.backoff = 100;
      this.onWake(''); // work may have arrived while we were away
    } catch (error) {
      if (this.closed) return; // close() ended it
      this.logger.warn(
        `LISTEN ${this.channel} failed (${(error as Error).message}); retrying in ${this.backoff} ms`,
      );
      this.reconnect(client);
    }
  }

  /** Drop the current connection and connect again after a growing delay. */
  private reconnect(client: PgListenClient | undefined): void {
    // An older client's late event (pg emits `end` after `error`, sometimes much later): a second reconnect would
    // leak the connection being opened.
    if (client && client !== this.client && client !== this.connecting) return;
    if (client && client === this.connecting) this.connecting = undefined;
    this.alive = false;
    this.client = undefined;
    client?.end().catch(() => undefined);
    if (this.closed || this.reconnectTimer) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 5_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private async ping(): Promise<void> {
    if (!this.client || this.pendingPing) return;
    const token = `ping:${randomUUID()}`;
    const client = this.client;
    const timer = setTimeout(() => {
      this.pendingPing = undefined;
      if (client !== this.client) return; // reconnected meanwhile for another reason
      this.logger.warn(`LISTEN ${this.channel} missed its self-ping; reconnecting`);
      this.reconnect(client);
    }, this.options.pingTimeout ?? 5_000);
    timer.unref();
    this.pendingPing = { token, timer };
    await this.sendNotify(this.channel, token).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pendingPing) clearTimeout(this.pendingPing.timer);
    const clients = [this.client, this.connecting];
    this.client = undefined;
    this.connecting = undefined;
    this.alive = false;
    await Promise.all(clients.map((client) => client?.end().catch(() => undefined)));
  }
}
