import { Module, type DynamicModule } from '@nestjs/common';
import { QueueConfigurationError } from '../errors/queue-configuration.error.js';
import { createDashboardController } from './dashboard.controller.js';
import { DASHBOARD_OPTIONS, type DashboardOptions } from './dashboard-options.js';
import { TaskTimeline } from './task-timeline.js';
import { DashboardData } from './dashboard-data.js';
import { ThroughputTracker } from './throughput.js';

/**
 * An opt-in web dashboard served by the app (needs an HTTP platform such as @nestjs/platform-express): an overview
 * (statistics, queues with their state, policies and last hour's throughput, workers), paged and filtered records,
 * a record's detail (args, result, error, logs, timeline, flow parent and children), schedules and workers pages,
 * live updates over SSE, and confirmed actions (cancel, retry, promote, enqueue again, remove; pause/resume, retry
 * failed and clean a queue), all off in `readOnly`. Import it next to `QueuesModule`. docs/dashboard.md shows it.
 */
@Module({})
export class QueuesDashboardModule {
  static register(options: DashboardOptions): DynamicModule {
    if (!options.authorize && options.allowAnonymous !== true) {
      throw new QueueConfigurationError([
        { path: 'QueuesDashboardModule', message: 'needs `authorize` or an explicit `allowAnonymous: true`' },
      ]);
    }
    const origins = options.allowedOrigins ?? [];
    const bad = Array.isArray(origins) ? origins.findIndex((origin) => !isOrigin(origin)) : 0;
    if (bad !== -1) {
      throw new QueueConfigurationError([
        {
          path: Array.isArray(origins)
            ? `QueuesDashboardModule.allowedOrigins[${bad}]`
            : 'QueuesDashboardModule.allowedOrigins',
          message:
            'must be a list of origins such as "https://admin.example.com" (scheme, host, optional port)',
        },
      ]);
    }
    return {
      module: QueuesDashboardModule,
      providers: [
        { provide: DASHBOARD_OPTIONS, useValue: options },
        TaskTimeline,
        ThroughputTracker,
        DashboardData,
      ],
      controllers: [createDashboardController(options.path ?? '/queues/dashboard')],
    };
  }
}

/** An http(s) origin: scheme, host and optional port, nothing else. */
function isOrigin(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value.replace(/\/$/, '');
  } catch {
    return false;
  }
}
