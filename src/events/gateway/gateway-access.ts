import type { GatewayOptions } from '../../options/queues-module-options.js';
import { globalChannel, queueChannel, taskChannel } from '../event-channels.js';

/** DI token of the gateway options. */
export const QUEUES_GATEWAY_OPTIONS = Symbol.for('nestjs-queues:gateway-options');

/** A channel a client asks for. */
export interface ChannelRequest {
  scope: 'task' | 'queue' | 'global';
  key?: string;
}

/** The channel name of a request, or an error message. */
export function channelOf(
  request: unknown,
  namespace: string,
): { channel: string; request: ChannelRequest } | { error: string } {
  const r = request as Partial<ChannelRequest> | null;
  if (!r || typeof r !== 'object') return { error: 'expected { scope, key? }' };
  if (r.scope === 'global') return { channel: globalChannel(namespace), request: { scope: 'global' } };
  if (
    (r.scope === 'task' || r.scope === 'queue') &&
    typeof r.key === 'string' &&
    r.key.length > 0 &&
    r.key.length <= 200
  ) {
    return {
      channel: r.scope === 'task' ? taskChannel(namespace, r.key) : queueChannel(namespace, r.key),
      request: { scope: r.scope, key: r.key },
    };
  }
  return { error: "scope must be 'task' or 'queue' with a key, or 'global'" };
}

/** Whether `client` (a socket or an HTTP request) may read `request`: the authorize hook, or allowAnonymous. */
export async function mayRead(
  options: GatewayOptions,
  client: unknown,
  request: ChannelRequest,
): Promise<boolean> {
  if (options.authorize) {
    try {
      return (await options.authorize(client, request)) === true;
    } catch {
      return false;
    }
  }
  return options.allowAnonymous === true;
}
