import { Module, type DynamicModule } from '@nestjs/common';
import type { GatewayOptions } from '../../options/queues-module-options.js';
import { QUEUES_GATEWAY_OPTIONS } from './gateway-access.js';
import { createQueuesEventsController } from './queues-events.controller.js';
import { createQueuesGateway } from './queues.gateway.js';

/**
 * The opt-in realtime edge: a socket.io gateway (namespace `/queues`) and SSE endpoints (`/queues/events/...`)
 * relaying `QueueEvents`. Loaded by `QueuesModule.forRoot({ gateway })` only when enabled, so @nestjs/websockets
 * stays an optional peer.
 */
@Module({})
export class QueuesGatewayModule {
  static register(
    options: GatewayOptions,
    events: { namespace?: string; publishGlobalLifecycle?: boolean } = {},
  ): DynamicModule {
    const namespace = events.namespace ?? 'nestjs_queues';
    const global = events.publishGlobalLifecycle ?? false;
    return {
      module: QueuesGatewayModule,
      providers: [
        { provide: QUEUES_GATEWAY_OPTIONS, useValue: options },
        createQueuesGateway(options, namespace, global),
      ],
      controllers: [createQueuesEventsController(options.ssePath ?? '/queues/events', namespace, global)],
    };
  }
}
