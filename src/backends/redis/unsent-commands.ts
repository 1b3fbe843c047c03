/**
 * The commands one call put on an ioredis connection, so a call that gave up (its `commandTimeout` passed) can take
 * back those not yet sent. ioredis keeps a command made while the connection is down in its offline queue, and one
 * written but unanswered when the connection dropped in `prevCommandQueue`; it sends both once the connection is
 * back, so without this a call the caller was told had failed (an enqueue, a completion) could still happen minutes
 * later. Reads ioredis's queues (denque instances on the client), which its public API does not expose.
 */

/** What an ioredis queue holds: `{ command, … }` items. */
interface CommandQueue {
  readonly length: number;
  peekAt(index: number): { command: object } | undefined;
  removeOne(index: number): unknown;
}

interface QueuesOfClient {
  offlineQueue?: CommandQueue;
  commandQueue?: CommandQueue;
  prevCommandQueue?: CommandQueue | null;
}

/** A command as ioredis made it: rejecting it settles the promise its sender holds. */
interface PendingCommand {
  reject?: (error: Error) => void;
}

/** The queue lengths before a call, to find what it added after. */
export interface QueueMark {
  offline: number;
  written: number;
}

export function markQueues(client: object): QueueMark {
  const queues = client as QueuesOfClient;
  return { offline: queues.offlineQueue?.length ?? 0, written: queues.commandQueue?.length ?? 0 };
}

/**
 * The commands a call added to either queue since `mark` (ioredis adds a call's commands synchronously, so nothing
 * else runs in between), or undefined when it added none (a cluster client routes through node clients it owns).
 */
export function commandsSince(client: object, mark: QueueMark): object[] | undefined {
  const queues = client as QueuesOfClient;
  // Runs on every call: no array is made unless the call added commands.
  const offline = addedSince(queues.offlineQueue, mark.offline, undefined);
  return addedSince(queues.commandQueue, mark.written, offline);
}

/** `into` plus the commands `queue` holds from index `from` on. */
function addedSince(
  queue: CommandQueue | undefined,
  from: number,
  into: object[] | undefined,
): object[] | undefined {
  if (!queue) return into;
  for (let i = from; i < queue.length; i++) (into ??= []).push(queue.peekAt(i)!.command);
  return into;
}

/**
 * Takes `commands` out of the queues ioredis sends from when the connection comes back, and rejects each with
 * `error`, so none runs after its caller was told it failed. A command already written to the live connection is
 * left: the server has it (as after any timeout, it may have run).
 */
export function dropUnsent(client: object, commands: readonly object[], error: Error): void {
  const queues = client as QueuesOfClient;
  const mine = new Set(commands);
  for (const queue of [queues.offlineQueue, queues.prevCommandQueue]) {
    if (!queue) continue;
    for (let i = queue.length - 1; i >= 0; i--) {
      const command = queue.peekAt(i)?.command;
      if (!command || !mine.has(command)) continue;
      queue.removeOne(i);
      (command as PendingCommand).reject?.(error);
    }
  }
}
