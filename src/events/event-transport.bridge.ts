import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { QueueBackend } from '../backends/queue-backend.js';
import type { QueuesModuleOptions } from '../options/queues-module-options.js';
import { QUEUES_MODULE_OPTIONS } from '../queues.constants.js';
import type { QueueEventSink } from './queue-event-sink.js';
import { QueueEvents } from './queue-events.js';

/**
 * Connects `QueueEvents` across processes through the queue backend's own server: Redis/Valkey pub/sub or
 * PostgreSQL NOTIFY. On by default for those backends (`events.crossProcess: false` turns it off); the memory
 * backend and the other SQL dialects stay in process. Wakeups for workers are a separate channel.
 */
@Injectable()
export class EventTransportBridge implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(EventTransportBridge.name);
  private transport: (QueueEventSink & { open(): Promise<void>; close(): Promise<void> }) | undefined;
  /** Tags this process's messages so it ignores its own echo. */
  readonly origin = randomUUID();

  constructor(
    private readonly backend: QueueBackend,
    private readonly events: QueueEvents,
    @Inject(QUEUES_MODULE_OPTIONS) private readonly options: QueuesModuleOptions,
  ) {}

  /** The transport in use, if any (`redis` or `postgres`). */
  get kind(): string | undefined {
    return this.transport?.constructor.name;
  }

  async onModuleInit(): Promise<void> {
    const events = this.options.events ?? {};
    if (events.enabled === false || events.crossProcess === false) return;
    const namespace = events.namespace ?? 'nestjs_queues';
    const onRemote = (event: Parameters<QueueEvents['emitLocal']>[0]) => this.events.emitLocal(event);
    const name = this.backend.capabilities.name;
    if (name === 'redis' || name === 'valkey') {
      const { RedisEventTransport } = await import('./transports/redis-event.transport.js');
      const { redis: client, shardedEvents } = this.backend as unknown as {
        redis: import('ioredis').Redis;
        /** A cluster backend's sharded pub/sub, when its servers have it. */
        shardedEvents?: import('../backends/redis/sharded-queue-channels.js').ShardedEventChannels;
      };
      this.transport = new RedisEventTransport(
        client,
        namespace,
        this.origin,
        events.publishGlobalLifecycle ?? false,
        onRemote,
        shardedEvents,
      );
    } else if (name === 'typeorm:postgres') {
      const { PostgresEventTransport } = await import('./transports/postgres-event.transport.js');
      const pgModule = 'pg';
      const pg = ((await import(pgModule)) as { default: { Client: new (config: unknown) => any } }).default;
      const dataSource = (
        this.backend as unknown as {
          activeDataSource: { options: Record<string, any>; driver: { master: any } };
        }
      ).activeDataSource;
      const o = dataSource.options;
      const config = {
        connectionString: o['url'],
        host: o['host'],
        port: o['port'],
        user: o['username'],
        password: o['password'],
        database: o['database'],
      };
      const pool = dataSource.driver.master;
      const channel = `${namespace.replace(/[^A-Za-z0-9_]/g, '_')}_events`;
      this.transport = new PostgresEventTransport(
        () => new pg.Client(config),
        async (channel, payloads) => {
          // Up to 500 NOTIFYs per statement keeps well under PostgreSQL's 65,535 bind parameters.
          for (let start = 0; start < payloads.length; start += 500) {
            const slice = payloads.slice(start, start + 500);
            const calls = slice.map((_, i) => `pg_notify($1, $${i + 2})`).join(', ');
            await pool.query(`SELECT ${calls}`, [channel, ...slice]);
          }
        },
        channel,
        this.origin,
        onRemote,
        // A session LISTENing on the channel: its last statement is that LISTEN (ours, other processes', and an
        // outside reader that only listens). Sessions whose statements this role may not read count as listeners.
        async (ownPid) => {
          const { rows } = (await pool.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1
               AND (query = '<insufficient privilege>' OR (query ILIKE 'listen%' AND position($2 in query) > 0))`,
            [ownPid, channel],
          )) as { rows: Array<{ n: number }> };
          return rows[0]?.n ?? 1;
        },
      );
    }
    if (!this.transport) return;
    await this.transport.open();
    this.events.addSink(this.transport);
    this.logger.log(`Cross-process events through ${name}`);
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.transport) return;
    this.events.removeSink(this.transport);
    await this.transport.close();
    this.transport = undefined;
  }
}
