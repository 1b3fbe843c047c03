import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  ForbiddenException,
  Get,
  Header,
  HttpCode,
  HttpException,
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
import type { TerminalStatus } from '../backends/queue-backend.js';
import { QueueConfigurationError } from '../errors/queue-configuration.error.js';
import { QueueError } from '../errors/queue.error.js';
import { TaskNotFoundError } from '../errors/task-not-found.error.js';
import { QueueEvents } from '../events/queue-events.js';
import { isTaskStatus, type TaskStatus } from '../models/task-status.js';
import { DASHBOARD_OPTIONS, type DashboardOptions } from './dashboard-options.js';
import { DashboardData, MAX_PAGE } from './dashboard-data.js';
import { dashboardPage, dashboardPolicy } from './dashboard.page.js';
import { isRecordAction } from './record-actions.js';
import { stateChangeRefusal } from './same-origin.js';
import { liveUpdates } from './live-updates.js';

/** Bulk and state actions on a queue (`QueueService.queue(name)`). */
const QUEUE_ACTIONS = ['pause', 'resume', 'retry-failed', 'clean'] as const;
type QueueAction = (typeof QUEUE_ACTIONS)[number];
/** Statuses `clean` may delete. */
const CLEANABLE: readonly TerminalStatus[] = ['completed', 'failed', 'cancelled'];
const isCleanable = (value: unknown): value is TerminalStatus =>
  typeof value === 'string' && (CLEANABLE as readonly string[]).includes(value);

/** Build the dashboard controller for a base path (route paths are static metadata, the base path is not). */
export function createDashboardController(path: string): Type<unknown> {
  @Controller(path.replace(/^\/+|\/+$/g, ''))
  class QueuesDashboardController {
    constructor(
      readonly data: DashboardData,
      readonly events: QueueEvents,
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

    /** Statistics, queues (state, policy, charts) and workers: the overview page. */
    @Get('api/overview')
    async overview(@Req() request: unknown) {
      await this.allow(request);
      return this.data.overview();
    }

    @Get('api/stats')
    async stats(@Req() request: unknown, @Query('queue') queue?: string) {
      await this.allow(request);
      return this.data.queues.getStatistics(queue ? { queue } : {}).catch(rethrowAsHttp);
    }

    /** One page of records, newest first: filters, `cursor` from the previous page, or a `search` by id or key. */
    @Get('api/records')
    async records(
      @Req() request: unknown,
      @Query('status') status?: string,
      @Query('task') task?: string,
      @Query('queue') queue?: string,
      @Query('key') key?: string,
      @Query('search') search?: string,
      @Query('cursor') cursor?: string,
      @Query('limit') limit?: string,
    ) {
      await this.allow(request);
      const filter = {
        status: statusFilter(status),
        taskName: text(task),
        queue: text(queue),
        key: text(key),
        cursor: text(cursor),
        limit: Math.min(MAX_PAGE, Math.max(1, Math.floor(Number(limit)) || 50)),
      };
      return this.data.records(filter, text(search)).catch(rethrowAsHttp);
    }

    @Get('api/records/:id')
    async record(@Req() request: unknown, @Param('id') id: string) {
      await this.allow(request);
      const detail = await this.data.record(id);
      if (!detail) throw new NotFoundException(`no record ${id}`);
      return detail;
    }

    /** cancel, retry, promote, again, remove: only where the record's status allows it (else a 409). */
    @Post('api/records/:id/:action')
    async act(@Req() request: unknown, @Param('id') id: string, @Param('action') action: string) {
      await this.allow(request, true);
      if (!isRecordAction(action)) throw new NotFoundException(`no action ${action}`);
      const record = await this.data.queues.getTask(id);
      if (!record) throw new NotFoundException(`no record ${id}`);
      if (!this.data.actionsOf(record).includes(action))
        throw new ConflictException(`cannot ${action} a ${record.status} record`);
      const queues = this.data.queues;
      try {
        switch (action) {
          case 'cancel':
            return { cancelled: await queues.cancel(id) };
          case 'retry':
            return this.data.view(await queues.retry(id));
          case 'promote':
            return this.data.view(await queues.promote(id));
          case 'remove':
            await queues.remove(id);
            return { removed: true };
          case 'again':
            return this.data.view(
              await queues.enqueue(record.taskName, record.args, {
                queue: record.queue,
                priority: record.priority,
                kwargs: record.kwargs,
              }),
            );
        }
      } catch (error) {
        return rethrowAsHttp(error);
      }
    }

    /** pause, resume, retry-failed, clean (body `{ status }`: which terminal records) of one queue. */
    @Post('api/queues/:queue/:action')
    @HttpCode(200)
    async queueAction(
      @Req() request: unknown,
      @Param('queue') queue: string,
      @Param('action') action: string,
      @Body() body: unknown,
    ) {
      await this.allow(request, true);
      if (!(QUEUE_ACTIONS as readonly string[]).includes(action))
        throw new NotFoundException(`no queue action ${action}`);
      try {
        // A queue name the package refuses (too long, NUL, ...) is a 400, from the handle's own check.
        const handle = this.data.handle(queue);
        switch (action as QueueAction) {
          case 'pause':
            await handle.pause();
            return { paused: true };
          case 'resume':
            await handle.resume();
            return { paused: false };
          case 'retry-failed':
            return { retried: await handle.retryFailed() };
          case 'clean': {
            const status = (body as { status?: unknown } | null)?.status;
            if (!isCleanable(status))
              throw new BadRequestException(`clean needs a status among ${CLEANABLE.join(', ')}`);
            return { removed: await handle.clean({ status }) };
          }
        }
      } catch (error) {
        return rethrowAsHttp(error);
      }
    }

    @Get('api/schedules')
    async scheduleList(@Req() request: unknown) {
      await this.allow(request);
      return this.data.scheduleList();
    }

    @Get('api/workers')
    async workers(@Req() request: unknown) {
      await this.allow(request);
      return this.data.workers();
    }

    @Sse('api/events')
    stream(@Req() request: unknown): Observable<MessageEvent> {
      return from(this.allow(request)).pipe(
        switchMap(() =>
          liveUpdates(this.events.events$).pipe(
            map((event) => ({ data: event, type: 'queue.event', id: event.id })),
          ),
        ),
      );
    }
  }
  return QueuesDashboardController;
}

/** A query parameter as a filter: absent or empty means none. */
function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function statusFilter(status: unknown): TaskStatus | undefined {
  const value = text(status);
  if (value === undefined) return undefined;
  if (!isTaskStatus(value)) throw new BadRequestException(`unknown status "${value}"`);
  return value;
}

/** The package's typed errors as HTTP answers: missing → 404, wrong state → 409, bad input → 400. */
function rethrowAsHttp(error: unknown): never {
  if (error instanceof HttpException) throw error;
  if (error instanceof TaskNotFoundError) throw new NotFoundException(error.message);
  if (error instanceof QueueConfigurationError) throw new BadRequestException(error.message);
  if (error instanceof QueueError) throw new ConflictException(error.message);
  throw error;
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
