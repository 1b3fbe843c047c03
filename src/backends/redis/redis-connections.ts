import type { Redis } from 'ioredis';
import { QueueBackendUnavailableError } from '../../errors/queue-backend-unavailable.error.js';
import { commandsSince, dropUnsent, markQueues } from './unsent-commands.js';

/** Default of the Redis backend's `commandTimeout`: how long any call may wait for the server, in ms. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT = 10_000;

type NodeAddress = { host?: string; port?: number | string } | string | number;

function hostPort(host: string | undefined, port: number | string | undefined, defaultPort: number): string {
  const name = host || 'localhost';
  return `${name.includes(':') ? `[${name}]` : name}:${port ?? defaultPort}`;
}

/** A cluster startup node as given (a port, `host:port`, a URL or `{ host, port }`), credentials left out. */
function nodeAddress(node: NodeAddress): string {
  if (typeof node === 'number') return hostPort(undefined, node, 6379);
  if (typeof node !== 'string') return hostPort(node.host, node.port, 6379);
  if (!node.includes('://')) return node;
  try {
    const url = new URL(node);
    return hostPort(url.hostname, url.port || undefined, 6379);
  } catch {
    return 'an unparsable URL';
  }
}

/**
 * Where a client connects, for error messages: `host:port`, a unix socket path, the master name and its sentinels,
 * or a cluster's startup nodes. Read from the parsed options, never from the URL, so no password shows.
 */
export function redisAddress(client: Redis): string {
  const cluster = client as unknown as { isCluster?: boolean; startupNodes?: NodeAddress[] };
  if (cluster.isCluster) return `cluster ${(cluster.startupNodes ?? []).map(nodeAddress).join(', ')}`;
  const options = client.options ?? {};
  if (options.sentinels?.length) {
    const sentinels = options.sentinels.map((s) => hostPort(s.host, s.port, 26379)).join(', ');
    return `master "${options.name ?? ''}" via sentinels ${sentinels}`;
  }
  if (options.path) return options.path;
  return hostPort(options.host, options.port, 6379);
}

interface WaitingCall {
  deadline: number;
  settled: boolean;
  /** Dropped once settled: a settled call must not hold its promise. */
  reject: ((error: Error) => void) | undefined;
  /** The commands the call put on the connection (see `unsent-commands.ts`); dropped once settled. */
  commands: object[] | undefined;
}

/** ioredis's connection statuses, as the messages say them. */
const STATUS_WORDS: Record<string, string> = {
  wait: 'not opened yet',
  connecting: 'connecting',
  connect: 'open but the server has not answered its handshake',
  reconnecting: 'reconnecting',
  close: 'closed',
  end: 'closed',
};

/** The generic message ioredis rejects with when a connection ends; the connection's own error says more. */
const CONNECTION_CLOSED = 'Connection is closed.';

/**
 * Bounds the calls on one Redis client: each settles within `timeout` ms, with its reply or a
 * `QueueBackendUnavailableError` naming the server, and `close()` settles every call still waiting. ioredis alone
 * lets a call wait for good during an outage (with `maxRetriesPerRequest: null`, ours or a user's client), even
 * after the client is dropped. Errors the server replied with (`ReplyError`: a script's error, a wrong type) pass
 * through unchanged; every other failure is the connection's and becomes the typed error.
 */
export class RedisCalls {
  readonly address: string;
  /** Calls in the order they were made (so by deadline), the settled ones dropped from `head` on. */
  private queue: WaitingCall[] = [];
  private head = 0;
  private unsettled = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private lastError: Error | undefined;

  constructor(
    private readonly client: Redis,
    /** `Redis` or `Valkey`, for messages. */
    readonly product: string,
    readonly timeout: number,
  ) {
    this.address = redisAddress(client);
  }

  /**
   * Remembers a connection's latest error for the messages (`connect ECONNREFUSED …` says more than ioredis's
   * "Connection is closed."). Only on connections we own: a listener on a user's client would change what it logs.
   */
  watch(connection: Redis): this {
    connection.on('error', (error: Error) => (this.lastError = error));
    connection.on('ready', () => (this.lastError = undefined));
    return this;
  }

  /**
   * `work`'s outcome, or the typed error once `timeout` has passed or `close()` is called first. A call that times
   * out takes back its `commands` still waiting to be sent, so it never runs once the connection is back.
   */
  settle<T>(work: Promise<T>, commands?: object[]): Promise<T> {
    if (this.closed) {
      work.catch(() => undefined);
      return Promise.reject(this.closedError());
    }
    return new Promise<T>((resolve, reject) => {
      const call: WaitingCall = { deadline: Date.now() + this.timeout, reject, settled: false, commands };
      this.dropSettled();
      this.queue.push(call);
      if (this.unsettled++ === 0) this.timer?.ref();
      this.arm();
      work.then(
        (value) => {
          if (call.settled) return;
          this.markSettled(call);
          resolve(value);
        },
        (error: unknown) => {
          if (call.settled) return;
          this.markSettled(call);
          reject(this.translate(error));
        },
      );
    });
  }

  /** Rejects every call still waiting, and every later one, with the typed error. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const error = this.closedError();
    for (let i = this.head; i < this.queue.length; i++) this.fail(this.queue[i]!, error);
    this.queue = [];
    this.head = 0;
    this.unsettled = 0;
  }

  /**
   * Calls leave the queue from its head once settled. Replies on one connection come back in order, so the settled
   * calls gather at the head, and the queue holds about the calls in flight.
   */
  private dropSettled(): void {
    while (this.head < this.queue.length && this.queue[this.head]!.settled) this.head++;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1_024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * One timer for all calls, at the oldest unsettled call's deadline (every call has the same bound, so queue order
   * is deadline order): a timer per call cost more than the call itself under load. Left armed when its call
   * settles early (it then finds nothing due and re-arms), and unref'd while no call waits.
   */
  private arm(): void {
    if (this.timer || this.head >= this.queue.length) return;
    this.timer = setTimeout(() => this.expire(), Math.max(0, this.queue[this.head]!.deadline - Date.now()));
    if (this.unsettled === 0) this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    this.dropSettled();
    for (; this.head < this.queue.length; this.head++) {
      const call = this.queue[this.head]!;
      if (call.settled) continue;
      if (call.deadline > now) break;
      const error = this.unavailable(
        `did not answer within ${this.timeout} ms (commandTimeout)${this.state()}; check that the server runs and is reachable`,
      );
      if (call.commands) dropUnsent(this.client, call.commands, error);
      this.fail(call, error);
    }
    this.dropSettled();
    this.arm();
  }

  private fail(call: WaitingCall, error: Error): void {
    if (call.settled) return;
    const reject = call.reject!;
    this.markSettled(call);
    reject(error);
  }

  /** A call waiting keeps the process up until it settles (as a timer of its own would); none waiting, nothing. */
  private markSettled(call: WaitingCall): void {
    call.settled = true;
    call.reject = undefined;
    call.commands = undefined;
    if (--this.unsettled === 0) this.timer?.unref();
  }

  /** A connection failure (anything but a server's reply) → the typed error naming the server. */
  translate(error: unknown): Error {
    if (!(error instanceof Error)) return this.unavailable(`failed: ${String(error)}`, error);
    if (error.name === 'ReplyError' || error instanceof QueueBackendUnavailableError) return error;
    const reason =
      error.message === CONNECTION_CLOSED && this.lastError ? this.lastError.message : error.message;
    return this.unavailable(
      `cannot be reached (${reason}); check that the server runs and that the address is right`,
      error,
    );
  }

  private unavailable(problem: string, cause?: unknown): QueueBackendUnavailableError {
    return new QueueBackendUnavailableError(
      `${this.product} at ${this.address} ${problem}`,
      this.address,
      cause,
    );
  }

  private closedError(): QueueBackendUnavailableError {
    return this.unavailable('was closed while this call was still waiting for the server');
  }

  /** `; the connection is reconnecting (connect ECONNREFUSED …)`, or nothing while it looks up. */
  private state(): string {
    const status = this.client.status;
    if (status === 'ready') return '';
    const state = STATUS_WORDS[status] ?? status;
    return `; the connection is ${state}${this.lastError ? ` (${this.lastError.message})` : ''}`;
  }
}

const callsOfClient = new WeakMap<object, RedisCalls>();

/**
 * `client` with every call bounded by `calls` (see {@link RedisCalls}): each method returning a promise settles
 * within the bound, and so does a pipeline's `exec`. One proxy, so every command the backend sends, including ones
 * added later, is bounded without each call site remembering to. A call given a callback is left as it is (its
 * caller reads the callback, not the promise).
 */
export function boundRedis(client: Redis, calls: RedisCalls): Redis {
  /** One wrapper per method, made at its first use (a closure per call showed under load). */
  const wrappers = new Map<PropertyKey, { method: unknown; wrapper: unknown }>();
  const proxy: Redis = new Proxy(client, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function' || property === 'constructor') return value;
      const known = wrappers.get(property);
      if (known?.method === value) return known.wrapper;
      const wrapper = (...args: unknown[]) => {
        const mark = markQueues(target);
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise)
          return typeof args[args.length - 1] === 'function'
            ? result
            : calls.settle(result, commandsSince(target, mark));
        if (property === 'pipeline' || property === 'multi') return boundPipeline(result, target, calls);
        return result === target ? proxy : result;
      };
      wrappers.set(property, { method: value, wrapper });
      return wrapper;
    },
  });
  callsOfClient.set(proxy, calls);
  return proxy;
}

function boundPipeline(pipeline: unknown, client: object, calls: RedisCalls): unknown {
  const batch = pipeline as { exec?: (...args: unknown[]) => unknown };
  const exec = batch.exec;
  if (typeof exec !== 'function') return pipeline;
  batch.exec = (...args: unknown[]) => {
    // A cluster pipeline calls its own exec again to retry after MOVED or while the slots are refreshed (a failover):
    // those inner calls are ioredis's, so only this outer one is bounded (a bounded inner call nobody awaits would
    // reject unhandled at the bound).
    batch.exec = exec;
    const mark = markQueues(client);
    const result = exec.apply(batch, args);
    return result instanceof Promise && typeof args[0] !== 'function'
      ? calls.settle(result, commandsSince(client, mark))
      : result;
  };
  return pipeline;
}

/** The bound of a client made by {@link boundRedis} (undefined for any other client). */
export function redisCallsOf(client: Redis): RedisCalls | undefined {
  return callsOfClient.get(client);
}

/**
 * Connects a connection of ours and runs `setUp` (its SUBSCRIBE commands), within the bound of `like` (the command
 * connection's): a failure or timeout ends the connection, so nothing is left reconnecting, and rejects with the
 * typed error naming the server.
 */
export async function connectWithin(
  connection: Redis,
  like: { product: string; timeout: number } | undefined,
  setUp: () => Promise<unknown> = async () => undefined,
): Promise<void> {
  const calls = new RedisCalls(
    connection,
    like?.product ?? 'Redis',
    like?.timeout ?? DEFAULT_REDIS_COMMAND_TIMEOUT,
  ).watch(connection);
  try {
    await calls.settle(
      (async () => {
        await connection.connect();
        await setUp();
      })(),
    );
  } catch (error) {
    connection.disconnect();
    throw error;
  }
}

/**
 * A new connection like `client` for a subscription, not connected yet. A cluster client's `duplicate` takes its
 * startup nodes first (options given there would be read as nodes); a subscription on any node of a cluster hears
 * every PUBLISH, which the cluster bus broadcasts.
 */
export function duplicateForSubscribing(client: Redis): Redis {
  if ((client as unknown as { isCluster?: boolean }).isCluster)
    return (client as unknown as import('ioredis').Cluster).duplicate(undefined, {
      lazyConnect: true,
    }) as unknown as Redis;
  return client.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });
}
