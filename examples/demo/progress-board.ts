import type { QueueEventEnvelope } from '../../src/index.js';

const WIDTH = 24;

/** Draws one progress bar per task from the event stream, redrawing in place on a TTY. */
export class ProgressBoard {
  private readonly rows = new Map<string, { label: string; percent: number; state: string }>();
  private drawnLines = 0;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  track(taskId: string, label: string): void {
    this.rows.set(taskId, { label, percent: 0, state: 'queued' });
  }

  onEvent(event: QueueEventEnvelope): void {
    const row = event.taskId ? this.rows.get(event.taskId) : undefined;
    if (!row) return;
    if (event.type === 'task.started') row.state = 'running';
    if (event.type === 'task.progress') row.percent = event.progressPercent ?? row.percent;
    if (event.type === 'task.completed') [row.state, row.percent] = ['done', 100];
    if (event.type === 'task.failed') row.state = event.payload['willRetry'] ? 'retrying' : 'failed';
    this.draw();
  }

  draw(): void {
    const lines = [...this.rows.values()].map(({ label, percent, state }) => {
      const filled = Math.round((percent / 100) * WIDTH);
      return `  ${label.padEnd(22)} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${String(Math.round(percent)).padStart(3)}% ${state}`;
    });
    if (this.out.isTTY && this.drawnLines > 0) this.out.write(`\x1b[${this.drawnLines}A`);
    if (this.out.isTTY || (this.allDone() && this.drawnLines === 0)) {
      this.out.write(lines.map((line) => (this.out.isTTY ? `${line}\x1b[K` : line)).join('\n') + '\n');
      this.drawnLines = lines.length;
    }
  }

  private allDone(): boolean {
    return [...this.rows.values()].every((row) => row.state === 'done' || row.state === 'failed');
  }
}
