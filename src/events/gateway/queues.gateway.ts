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
import { headersOf, originAllowed } from '../../dashboard/same-origin.js';

interface SocketLike {
  join(room: string): unknown;
  leave(room: string): unknown;
}
interface ServerLike {
  to(room: string): { emit(event: string, payload: unknown): unknown };
  use?(middleware: (socket: { handshake?: unknown }, next: (error?: Error) => void) => void): unknown;
}

/** The origins `cors.origin` allows besides the app's own (`true`: any). */
function allowedOrigins(options: GatewayOptions): true | string[] {
  const origin = options.cors?.origin;
  if (origin === true) return true;
  return origin === undefined ? [] : Array.isArray(origin) ? origin : [origin];
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
  // No permissive CORS by default: the socket.io server sends CORS headers only for the origins configured.
  const cors = options.cors ? { cors: options.cors } : {};
  @WebSocketGateway({ namespace: options.namespace ?? '/queues', ...cors })
  class QueuesGateway implements OnGatewayInit, OnModuleDestroy {
    readonly logger = new Logger('QueuesGateway');
    @WebSocketServer() server!: ServerLike;
    private subscription: Subscription | undefined;

    constructor(
      readonly events: QueueEvents,
      @Inject(QUEUES_GATEWAY_OPTIONS) readonly gatewayOptions: GatewayOptions,
    ) {}

    afterInit(): void {
      // A browser page of another origin may not connect (WebSocket has no CORS of its own): the handshake's
      // Origin must be the app's own or an allowed one. Clients that send no Origin (not browsers) pass.
      const allowed = allowedOrigins(this.gatewayOptions);
      this.server.use?.((socket, next) => {
        const headers = headersOf(socket.handshake);
        const origin = headers['origin'];
        if (typeof origin !== 'string' || originAllowed(origin, headers, allowed)) next();
        else next(new Error('origin not allowed'));
      });
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
