import {
  BadRequestException,
  Controller,
  ForbiddenException,
  Get,
  Header,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  Res,
  Sse,
  type MessageEvent,
  type Type,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Observable, from, map, switchMap } from 'rxjs';
import { QueueBackend } from '../backends/queue-backend.js';
import { QueueEvents } from '../events/queue-events.js';
import { isTaskStatus } from '../models/task-status.js';
import { QueueService } from '../service/queue.service.js';
import { DASHBOARD_OPTIONS, type DashboardOptions } from './dashboard-options.js';
import { dashboardPage, dashboardPolicy } from './dashboard.page.js';
import { stateChangeRefusal } from './same-origin.js';
import { TaskTimeline } from './task-timeline.js';

/** Build the dashboard controller for a base path (route paths are static metadata, the base path is not). */
export function createDashboardController(path: string): Type<unknown> {
  @Controller(path.replace(/^\/+|\/+$/g, ''))
  class QueuesDashboardController {
    constructor(
      readonly queues: QueueService,
      readonly backend: QueueBackend,
      readonly events: QueueEvents,
      readonly timeline: TaskTimeline,
      @Inject(DASHBOARD_OPTIONS) readonly options: DashboardOptions,
    ) {}

    async allow(request: unknown, action = false): Promise<void> {
      const allowed = this.options.authorize
        ? (await this.options.authorize(request)) === true
        : this.options.allowAnonymous === true;
      if (!allowed) throw new ForbiddenException('not authorized for the queues dashboard');
      if (!action) return;
      if (this.options.readOnly) throw new ForbiddenException('the dashboard is read-only');
      const refusal = stateChangeRefusal(request, this.options.allowedOrigins);
      if (refusal) throw new ForbiddenException(refusal);
    }

    @Get()
    @Header('content-type', 'text/html; charset=utf-8')
    @Header('x-content-type-options', 'nosniff')
    @Header('referrer-policy', 'same-origin')
    async page(@Req() request: unknown, @Res({ passthrough: true }) response: unknown): Promise<string> {
      await this.allow(request);
      // A fresh nonce per response: only the page's own script and style run, whatever a record holds.
      const nonce = randomBytes(16).toString('base64');
      setHeader(response, 'content-security-policy', dashboardPolicy(nonce));
      return dashboardPage({ readOnly: this.options.readOnly === true, nonce });
    }

    /** Statistics and the newest records in one request: what the page reloads. */
    @Get('api/overview')
    async overview(
      @Req() request: unknown,
      @Query('status') status?: string,
      @Query('task') task?: string,
      @Query('queue') queue?: string,
      @Query('limit') limit?: string,
    ) {
      await this.allow(request);
      const [statistics, records] = await Promise.all([
        this.queues.getStatistics(),
        this.list(status, task, queue, limit),
      ]);
      return { statistics, records };
    }

    @Get('api/stats')
    async stats(@Req() request: unknown, @Query('queue') queue?: string) {
      await this.allow(request);
      return this.queues.getStatistics(queue ? { queue } : {});
    }

    /** Newest records first, filtered (one query on SQL backends). */
    @Get('api/records')
    async records(
      @Req() request: unknown,
      @Query('status') status?: string,
      @Query('task') task?: string,
      @Query('queue') queue?: string,
      @Query('limit') limit?: string,
    ) {
      await this.allow(request);
      return this.list(status, task, queue, limit);
    }

    list(status?: string, task?: string, queue?: string, limit?: string) {
      if (status && !isTaskStatus(status)) throw new BadRequestException(`unknown status "${status}"`);
      return this.backend.listRecords({
        status: status && isTaskStatus(status) ? status : undefined,
        taskNameContains: task || undefined,
        queue: queue || undefined,
        limit: Math.min(500, Math.max(1, Number(limit) || 100)),
      });
    }

    @Get('api/records/:id')
    async record(@Req() request: unknown, @Param('id') id: string) {
      await this.allow(request);
      const record = await this.queues.getTask(id);
      if (!record) throw new NotFoundException(`no record ${id}`);
      return { record, timeline: this.timeline.of(id) };
    }

    @Post('api/records/:id/cancel')
    async cancel(@Req() request: unknown, @Param('id') id: string) {
      await this.allow(request, true);
      return { cancelled: await this.queues.cancel(id) };
    }

    @Post('api/records/:id/retry')
    async retry(@Req() request: unknown, @Param('id') id: string) {
      await this.allow(request, true);
      return this.queues.retry(id);
    }

    @Post('api/records/:id/again')
    async again(@Req() request: unknown, @Param('id') id: string) {
      await this.allow(request, true);
      const record = await this.queues.getTask(id);
      if (!record) throw new NotFoundException(`no record ${id}`);
      return this.queues.enqueue(record.taskName, record.args, {
        queue: record.queue,
        priority: record.priority,
        kwargs: record.kwargs,
      });
    }

    @Sse('api/events')
    stream(@Req() request: unknown): Observable<MessageEvent> {
      return from(this.allow(request)).pipe(
        switchMap(() =>
          this.events.events$.pipe(map((event) => ({ data: event, type: 'queue.event', id: event.id }))),
        ),
      );
    }
  }
  return QueuesDashboardController;
}

/** Set a response header on Express, Fastify or a plain Node response. */
function setHeader(response: unknown, name: string, value: string): void {
  const r = response as {
    header?: (name: string, value: string) => unknown;
    setHeader?: (name: string, value: string) => unknown;
  };
  if (typeof r.setHeader === 'function') r.setHeader(name, value);
  else r.header?.(name, value);
}
