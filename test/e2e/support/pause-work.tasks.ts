import { Injectable } from '@nestjs/common';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Task, TaskCtx, type TaskExecutionContext } from '../../../src/index.js';

/** `pause.work`: notes its start in the ledger file PAUSE_LEDGER ("<id> <epoch ms>"), then takes 10 ms. */
@Injectable()
export class PauseWorkTasks {
  @Task('pause.work')
  async work(@TaskCtx() ctx: TaskExecutionContext) {
    const ledger = process.env['PAUSE_LEDGER'];
    if (ledger) appendFileSync(ledger, `${ctx.taskId} ${Date.now()}\n`);
    await sleep(10);
  }
}
