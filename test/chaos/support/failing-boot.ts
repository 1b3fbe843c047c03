// Boots QueuesModule on the store named by BOOT_BACKEND (postgres, mysql or redis, at their QUEUES_TEST_*_URL) with a
// task that names an execution backend the module does not configure, so QueuesModule's own boot step fails after
// the queue backend (and the cross-process event transport) opened, the way a CLI or a Cloud Run job boots (no
// abort on error, no process.exit). It prints the boot error as one JSON line and then does nothing: the process
// must end by itself, which it cannot while a connection is left open.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { QueuesModule, Task } from '../../../src/index.js';
import type { QueuesModuleOptions } from '../../../src/options/queues-module-options.js';
import { bootAndReport } from './boot-report.js';

const backends: Record<string, QueuesModuleOptions['queueBackend']> = {
  postgres: {
    type: 'typeorm',
    options: { type: 'postgres', url: process.env['QUEUES_TEST_POSTGRES_URL']! },
    tableName: 'boot_failure_tasks',
  },
  mysql: {
    type: 'typeorm',
    options: { type: 'mysql', url: process.env['QUEUES_TEST_MYSQL_URL']! },
    tableName: 'boot_failure_tasks',
  },
  redis: { type: 'redis', url: process.env['QUEUES_TEST_REDIS_URL']!, keyPrefix: 'boot_failure' },
};

@Injectable()
class MisconfiguredTasks {
  @Task('boot.nowhere', { executionBackend: 'nowhere' })
  async nowhere() {}
}

@Module({
  imports: [QueuesModule.forRoot({ queueBackend: backends[process.env['BOOT_BACKEND']!] })],
  providers: [MisconfiguredTasks],
})
class BootModule {}

await bootAndReport(BootModule);
