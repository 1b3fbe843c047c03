import { Module } from '@nestjs/common';
import { QueuesModule } from '../../src/index.js';
import { ReportTasks } from '../shared/report.tasks.js';

/**
 * Client options for a local Cloud Run API stand-in (CLOUD_RUN_EMULATOR_HOST=127.0.0.1:port, plain gRPC).
 * On Google Cloud leave them out: the client uses the service account of the service.
 */
async function emulatorClientOptions(): Promise<Record<string, unknown> | undefined> {
  const host = process.env['CLOUD_RUN_EMULATOR_HOST'];
  if (!host) return undefined;
  const { credentials } = await import('@grpc/grpc-js');
  const [apiEndpoint, port] = host.split(':');
  return { apiEndpoint, port: Number(port), sslCreds: credentials.createInsecure(), fallback: false };
}

/**
 * One module for both sides: the service that enqueues (its worker dispatches each record to a Cloud Run Jobs
 * execution) and the job container, which runs
 *   nestjs-queues run-task --module build/examples/cloudrun/app.module.js#AppModule
 * with NESTJS_QUEUES_TASK_ID set by the dispatcher. Both must reach the same queue backend.
 */
@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: {
        type: 'typeorm',
        options: {
          type: 'postgres',
          url: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
        },
        tableName: process.env['QUEUE_TABLE'] ?? 'example_cloudrun_task',
      },
      executionBackend: {
        type: 'cloudrun',
        projectId: process.env['GOOGLE_CLOUD_PROJECT'] ?? 'my-project',
        region: 'europe-west1',
        jobName: 'report-worker',
        timeout: 600_000,
        clientOptions: await emulatorClientOptions(),
      },
      worker: { reconcileInterval: 2_000 },
    }),
  ],
  providers: [ReportTasks],
})
export class AppModule {}
