// `nestjs-queues/typeorm`: the pieces that need typeorm at import time (entity decorators, migration).
export { QueueTaskEntity, QueueTaskEntityBase } from './backends/typeorm/queue-task.entity.js';
export {
  createQueueTablesMigration,
  CreateQueueTables1763769600000,
} from './backends/typeorm/create-queue-tables.migration.js';
export { TypeOrmQueueBackend } from './backends/typeorm/typeorm.backend.js';
