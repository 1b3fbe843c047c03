import { Inject, Logger, type OnModuleDestroy, type Type } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  type OnGatewayInit,
} from '@nestjs/websockets';
import type { Subscription } from 'rxjs';
import type { GatewayOptions } from '../../options/queues-module-options.js';
import { channelsFor } from '../event-channels.js';
import { QueueEvents } from '../queue-events.js';
import { QUEUES_GATEWAY_OPTIONS, channelOf, mayRead } from './gateway-access.js';

interface SocketLike {
  join(room: string): unknown;
  leave(room: string): unknown;
}
interface ServerLike {
  to(room: string): { emit(event: string, payload: unknown): unknown };
}

/**
 * Build the socket.io gateway class for a namespace (decorator metadata is static, the namespace is not).
 * Clients `subscribe` / `unsubscribe` with `{ scope, key? }` and receive `queue.event` envelopes. Rooms are the
 * channel names; socket.io drops a disconnected socket's rooms, so nothing outlives it.
 */
export function createQueuesGateway(
  options: GatewayOptions,
  namespaceOfEvents: string,
  publishGlobalLifecycle: boolean,
): Type<unknown> {
  @WebSocketGateway({ namespace: options.namespace ?? '/queues', cors: { origin: true } })
  class QueuesGateway implements OnGatewayInit, OnModuleDestroy {
    readonly logger = new Logger('QueuesGateway');
    @WebSocketServer() server!: ServerLike;
    private subscription: Subscription | undefined;

    constructor(
      readonly events: QueueEvents,
      @Inject(QUEUES_GATEWAY_OPTIONS) readonly gatewayOptions: GatewayOptions,
    ) {}

    afterInit(): void {
      this.subscription = this.events.events$.subscribe((event) => {
        for (const room of channelsFor(namespaceOfEvents, event, publishGlobalLifecycle))
          this.server.to(room).emit('queue.event', event);
      });
    }

    onModuleDestroy(): void {
      this.subscription?.unsubscribe();
    }

    @SubscribeMessage('subscribe')
    async subscribe(@ConnectedSocket() socket: SocketLike, @MessageBody() body: unknown) {
      const resolved = channelOf(body, namespaceOfEvents);
      if ('error' in resolved) return { ok: false, error: resolved.error };
      if (!(await mayRead(this.gatewayOptions, socket, resolved.request)))
        return { ok: false, error: 'forbidden' };
      await socket.join(resolved.channel);
      return { ok: true, channel: resolved.channel };
    }

    @SubscribeMessage('unsubscribe')
    async unsubscribe(@ConnectedSocket() socket: SocketLike, @MessageBody() body: unknown) {
      const resolved = channelOf(body, namespaceOfEvents);
      if ('error' in resolved) return { ok: false, error: resolved.error };
      await socket.leave(resolved.channel);
      return { ok: true, channel: resolved.channel };
    }
  }
  return QueuesGateway;
}
