// Renders a report again from the raw results a run wrote with BENCH_JSON (e.g. after a change to report.mjs):
//   node bench/render.mjs /tmp/results.json > /tmp/b.md
import { readFileSync } from 'node:fs';
import { renderReport } from './report.mjs';

process.stdout.write(`${renderReport(JSON.parse(readFileSync(process.argv[2], 'utf8')))}\n`);
