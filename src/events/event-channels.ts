import type { QueueEventEnvelope } from './queue-event.js';

/** Lifecycle types that also go to the global channel when `publishGlobalLifecycle` is on. */
const LIFECYCLE = new Set([
  'task.enqueued',
  'task.started',
  'task.completed',
  'task.failed',
  'task.cancelled',
  'task.claim_lost',
  'task.stale_failed',
  'task.removed',
  'task.promoted',
  'task.rescheduled',
  'flow.completed',
  'flow.failed',
  'queue.paused',
  'queue.resumed',
  'task.expired',
]);

/** Keep channel segments to a safe alphabet: anything else becomes `_`. */
export function normalizeChannelSegment(value: string): string {
  return value.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 200) || '_';
}

/** `{ns}:task:{taskId}:events` */
export function taskChannel(namespace: string, taskId: string): string {
  return `${namespace}:task:${normalizeChannelSegment(taskId)}:events`;
}

/** `{ns}:queue:{queue}:events` */
export function queueChannel(namespace: string, queue: string): string {
  return `${namespace}:queue:${normalizeChannelSegment(queue)}:events`;
}

/** `{ns}:global:events` */
export function globalChannel(namespace: string): string {
  return `${namespace}:global:events`;
}

/**
 * Every channel an envelope is addressed to (DESIGN §9). Each one reaches its queue's channel or the global one,
 * so a process that listens to those two kinds (`receivingChannels`) sees every event.
 */
export function channelsFor(
  namespace: string,
  event: QueueEventEnvelope,
  publishGlobalLifecycle: boolean,
): string[] {
  const channels: string[] = [];
  if (event.taskId) channels.push(taskChannel(namespace, event.taskId));
  if (event.queue) channels.push(queueChannel(namespace, event.queue));
  if (goesToGlobal(event, publishGlobalLifecycle)) channels.push(globalChannel(namespace));
  return channels;
}

/** Whether an envelope goes to the global channel: it belongs to no queue, or it is lifecycle and asked for there. */
function goesToGlobal(event: QueueEventEnvelope, publishGlobalLifecycle: boolean): boolean {
  return !event.queue || (publishGlobalLifecycle && LIFECYCLE.has(event.type));
}

/** `{P:queue}:{ns}:events`: a shard channel in the slot whose hash tag it starts with (a queue's, or the home one). */
export function shardChannel(hashTag: string, namespace: string): string {
  return `${hashTag}:${namespace}:events`;
}

/**
 * On a cluster with sharded pub/sub: the shard channels an envelope goes to (DESIGN §9, §15). Its queue's channel, in
 * the queue's slot, stands for the queue and task channels (sharded channels have no patterns, and a channel per task
 * would be one SSUBSCRIBE per task); the home slot's stands for the global one.
 */
export function shardChannelsFor(
  namespace: string,
  event: QueueEventEnvelope,
  publishGlobalLifecycle: boolean,
  hashTagOf: (queue: string | undefined) => string,
): string[] {
  const channels: string[] = [];
  if (event.queue) channels.push(shardChannel(hashTagOf(event.queue), namespace));
  if (goesToGlobal(event, publishGlobalLifecycle))
    channels.push(shardChannel(hashTagOf(undefined), namespace));
  return channels;
}

/**
 * What a process subscribes to for other processes' events: every queue channel (a pattern) and the global one.
 * Not the task channels: each task event also goes to its queue's channel, so listening to both delivered every
 * task event twice (received, parsed, then dropped as a duplicate).
 */
export function receivingChannels(namespace: string): { queuePattern: string; global: string } {
  return { queuePattern: `${namespace}:queue:*:events`, global: globalChannel(namespace) };
}
