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
  Sse,
  type MessageEvent,
  type Type,
} from '@nestjs/common';
import { Observable, from, map, switchMap } from 'rxjs';
import { QueueBackend } from '../backends/queue-backend.js';
import { QueueEvents } from '../events/queue-events.js';
import { isTaskStatus } from '../models/task-status.js';
import { QueueService } from '../service/queue.service.js';
import { DASHBOARD_OPTIONS, type DashboardOptions } from './dashboard-options.js';
import { dashboardPage } from './dashboard.page.js';
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
      if (action && this.options.readOnly) throw new ForbiddenException('the dashboard is read-only');
    }

    @Get()
    @Header('content-type', 'text/html; charset=utf-8')
    async page(@Req() request: unknown): Promise<string> {
      await this.allow(request);
      return dashboardPage({ readOnly: this.options.readOnly === true });
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
