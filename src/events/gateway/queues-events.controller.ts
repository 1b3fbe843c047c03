import {
  Controller,
  ForbiddenException,
  Inject,
  Param,
  Req,
  Sse,
  type MessageEvent,
  type Type,
} from '@nestjs/common';
import { Observable, filter, from, map, switchMap } from 'rxjs';
import type { GatewayOptions } from '../../options/queues-module-options.js';
import { channelsFor } from '../event-channels.js';
import { QueueEvents } from '../queue-events.js';
import { QUEUES_GATEWAY_OPTIONS, channelOf, mayRead, type ChannelRequest } from './gateway-access.js';

/**
 * Build the SSE controller for a base path: `GET {path}/tasks/:taskId`, `{path}/queues/:queue`, `{path}/global`,
 * each a stream of envelopes (`data:` JSON, `event: queue.event`). Access as for the gateway: 403 when denied.
 */
export function createQueuesEventsController(
  path: string,
  namespaceOfEvents: string,
  publishGlobalLifecycle: boolean,
): Type<unknown> {
  @Controller(path.replace(/^\/+/, ''))
  class QueuesEventsController {
    constructor(
      readonly events: QueueEvents,
      @Inject(QUEUES_GATEWAY_OPTIONS) readonly gatewayOptions: GatewayOptions,
    ) {}

    private stream(request: unknown, wanted: ChannelRequest): Observable<MessageEvent> {
      const resolved = channelOf(wanted, namespaceOfEvents);
      if ('error' in resolved) throw new ForbiddenException(resolved.error);
      return from(mayRead(this.gatewayOptions, request, resolved.request)).pipe(
        switchMap((allowed) => {
          if (!allowed) throw new ForbiddenException('not authorized for this channel');
          return this.events.events$.pipe(
            filter((event) =>
              channelsFor(namespaceOfEvents, event, publishGlobalLifecycle).includes(resolved.channel),
            ),
            map((event) => ({ data: event, type: 'queue.event', id: event.id }) satisfies MessageEvent),
          );
        }),
      );
    }

    @Sse('tasks/:taskId')
    task(@Req() request: unknown, @Param('taskId') taskId: string): Observable<MessageEvent> {
      return this.stream(request, { scope: 'task', key: taskId });
    }

    @Sse('queues/:queue')
    queue(@Req() request: unknown, @Param('queue') queue: string): Observable<MessageEvent> {
      return this.stream(request, { scope: 'queue', key: queue });
    }

    @Sse('global')
    global(@Req() request: unknown): Observable<MessageEvent> {
      return this.stream(request, { scope: 'global' });
    }
  }
  return QueuesEventsController;
}
