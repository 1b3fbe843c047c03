import type { Logger } from '@nestjs/common';
import { NotificationWaiters } from '../notification-waiters.js';
import { SubscriberSelfPing } from './subscriber-self-ping.js';
import type { ShardChannelFamily, ShardedQueueChannels } from './sharded-queue-channels.js';

/**
 * Wakeups of a cluster backend through sharded pub/sub (see `ShardedQueueChannels`): each queue's enqueue scripts
 * SPUBLISH on the shard channel `{P:queue}:wakeup`, in the queue's own slot, and this process SSUBSCRIBEs to the
 * channel of every queue it knows plus the home slot's `{P}:wakeup`, where new queues are announced (an announcement
 * wakes too: the new queue's first records are written by then).
 */
export class ClusterWakeups {
  private readonly waiters = new NotificationWaiters();
  private opening: Promise<void> | undefined;
  private opened = false;
  private closed = false;
  private readonly family: ShardChannelFamily;

  constructor(
    private readonly channels: ShardedQueueChannels,
    /** The shard channel of a queue's wakeups. */
    channelOf: (queue: string) => string,
    private readonly logger: Logger,
  ) {
    this.family = {
      channelOf,
      home: channels.announceChannel,
      onMessage: (_channel, message) => {
        if (!SubscriberSelfPing.isPing(message.toString())) this.waiters.wakeAll(true);
      },
      onResubscribed: () => this.waiters.wakeAll(true),
    };
  }

  /** Whether every master's subscriber is connected (true before the first wait opens them). */
  get alive(): boolean {
    return this.channels.alive;
  }

  /** As `QueueBackend.waitForNotifications`; the first wait opens the subscriptions. */
  wait(timeout: number, signal?: AbortSignal): Promise<boolean> {
    if (!this.opened && !this.opening && !this.closed)
      this.opening = this.channels
        .add(this.family)
        .then(() => {
          this.opened = true;
          this.waiters.wakeAll(true); // a wakeup published before the subscriptions took hold was missed
        })
        .catch((error: Error) => {
          if (this.closed) return;
          this.logger.warn(
            `Sharded wakeup subscription failed (polling meanwhile; retried at the next wait): ${error.message}`,
          );
        })
        .finally(() => (this.opening = undefined));
    return this.waiters.wait(timeout, signal);
  }

  /** Wake this process's waiters (its own enqueue). */
  wakeLocal(): void {
    this.waiters.wakeAll(true);
  }

  close(): void {
    this.closed = true;
    this.waiters.wakeAll(false);
  }
}
