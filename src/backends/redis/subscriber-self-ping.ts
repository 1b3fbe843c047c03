import type { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';

const PING_PREFIX = 'ping:';

/**
 * Detects a subscriber that looks connected but no longer receives (a half-open socket, a subscription lost on the
 * server): every `interval` ms it publishes a token through the command connection and expects the subscriber to
 * see it within `timeout` ms; otherwise it calls `reconnect` (ioredis then connects and subscribes again).
 * Wakeups are hints, so until then workers only fall back to polling.
 */
export class SubscriberSelfPing {
  private timer: NodeJS.Timeout | undefined;
  private pending: { token: string; timer: NodeJS.Timeout } | undefined;
  private lastMissed = false;

  constructor(
    private readonly publish: (token: string) => Promise<unknown>,
    /** Whether the subscriber is connected and subscribed; no ping is sent otherwise. */
    private readonly ready: () => boolean,
    private readonly reconnect: () => void,
    private readonly logger: Logger,
    private readonly options: { interval: number; timeout: number },
  ) {}

  /** Whether a message on the wakeup channel is some process's self-ping (not a wakeup). */
  static isPing(message: string): boolean {
    return message.startsWith(PING_PREFIX);
  }

  /** False after a missed self-ping, until one comes back. */
  get healthy(): boolean {
    return !this.lastMissed;
  }

  start(): void {
    this.timer = setInterval(() => void this.ping(), this.options.interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  /** The subscriber (re)connected: a ping sent meanwhile may have been lost on the way, so it does not count. */
  reset(): void {
    if (this.pending) clearTimeout(this.pending.timer);
    this.pending = undefined;
  }

  /** Feed every received message; true when it was the awaited token. */
  seen(message: string): boolean {
    if (!this.pending || message !== this.pending.token) return false;
    clearTimeout(this.pending.timer);
    this.pending = undefined;
    this.lastMissed = false;
    return true;
  }

  private async ping(): Promise<void> {
    if (this.pending || !this.ready()) return;
    const token = `${PING_PREFIX}${randomUUID()}`;
    const timer = setTimeout(() => {
      this.pending = undefined;
      this.lastMissed = true;
      this.logger.warn('The Redis wakeup subscriber missed its self-ping; reconnecting it');
      this.reconnect();
    }, this.options.timeout);
    timer.unref();
    this.pending = { token, timer };
    await this.publish(token).catch(() => undefined);
  }
}
