import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * The queue table's columns as a TypeORM entity base. Extend it with your own `@Entity('my_table')` to keep the
 * queue table under your own name and metadata; point the backend at it with `tableName`. Times are epoch ms.
 */
export abstract class QueueTaskEntityBase {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ name: 'task_name', type: 'varchar', length: 255 }) taskName!: string;
  @Column({ name: 'args_json', type: 'text' }) argsJson!: string;
  @Column({ name: 'kwargs_json', type: 'text' }) kwargsJson!: string;
  @Column({ type: 'varchar', length: 100 }) queue!: string;
  @Column({ name: 'execution_backend', type: 'varchar', length: 64 }) executionBackend!: string;
  @Column({ name: 'execution_profile', type: 'varchar', length: 255, nullable: true }) executionProfile!:
    string | null;
  @Column({ name: 'execution_ref', type: 'varchar', length: 512, nullable: true }) executionRef!:
    string | null;
  @Column({ name: 'worker_id', type: 'varchar', length: 255, nullable: true }) workerId!: string | null;
  @Column({ type: 'varchar', length: 16 }) status!: string;
  @Column({ type: 'integer' }) priority!: number;
  @Column({ name: 'max_retries', type: 'integer' }) maxRetries!: number;
  @Column({ name: 'retry_count', type: 'integer' }) retryCount!: number;
  @Column({ name: 'scheduled_at', type: 'bigint', nullable: true }) scheduledAt!: string | null;
  @Column({ name: 'queued_at', type: 'bigint' }) queuedAt!: string;
  @Column({ name: 'created_at', type: 'bigint' }) createdAt!: string;
  @Column({ name: 'started_at', type: 'bigint', nullable: true }) startedAt!: string | null;
  @Column({ name: 'completed_at', type: 'bigint', nullable: true }) completedAt!: string | null;
  @Column({ name: 'heartbeat_at', type: 'bigint', nullable: true }) heartbeatAt!: string | null;
  @Column({ name: 'result_json', type: 'text', nullable: true }) resultJson!: string | null;
  @Column({ type: 'text', nullable: true }) error!: string | null;
  @Index() @Column({ name: 'task_key', type: 'varchar', length: 255, nullable: true }) taskKey!:
    string | null;
  @Column({ name: 'metadata_json', type: 'text' }) metadataJson!: string;
  @Column({ name: 'task_group', type: 'varchar', length: 255, nullable: true }) taskGroup!: string | null;
  /** When the record expires if not started (epoch ms; `metadata.expiresAt`), indexed for the expiry sweep. */
  @Column({ name: 'expires_at', type: 'bigint', nullable: true }) expiresAt!: string | null;
  /** The record's own retention age once completed (ms; an enqueue's `removeOnComplete: { age }`). */
  @Column({ name: 'keep_completed_ms', type: 'bigint', nullable: true }) keepCompletedMs!: string | null;
  /** The record's own retention age once failed or cancelled (ms; an enqueue's `removeOnFail: { age }`). */
  @Column({ name: 'keep_failed_ms', type: 'bigint', nullable: true }) keepFailedMs!: string | null;
}

/** The default queue table, `nestjs_queue_task`, as an entity (read-only use: the backend owns the writes). */
@Entity('nestjs_queue_task', { synchronize: false })
export class QueueTaskEntity extends QueueTaskEntityBase {}
