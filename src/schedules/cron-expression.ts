import { QueueConfigurationError } from '../errors/queue-configuration.error.js';

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Offset of the first name (JAN = 1, SUN = 0). */
  nameBase?: number;
  /** `?` allowed (day fields). */
  question?: boolean;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31, question: true },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: 'day-of-week', min: 0, max: 7, names: DAYS, nameBase: 0, question: true },
];

/**
 * Check a cron expression against the supported five-field subset and return it in a canonical numeric form for
 * the next-fire library (names → numbers, `?` → `*`, Sunday 7 → 0, `a/n` → `a-max/n`). Throws
 * `QueueConfigurationError` naming the task, the option path and the offending token.
 */
export function normalizeCron(expression: string, where: { taskName: string; path: string }): string {
  const fail = (message: string): never => {
    throw new QueueConfigurationError([{ path: where.path, message: `${message} in cron "${expression}"` }], {
      taskName: where.taskName,
    });
  };
  if (typeof expression !== 'string' || !expression.trim()) fail('an empty expression');
  const trimmed = expression.trim();
  if (trimmed.startsWith('@')) {
    const macro = MACROS[trimmed.toLowerCase()];
    if (!macro)
      fail(`unsupported macro "${trimmed}" (supported: @hourly, @daily, @weekly, @monthly, @yearly)`);
    return macro!;
  }
  const parts = trimmed.split(/\s+/);
  if (parts.length === 6 || parts.length === 7)
    fail(`${parts.length} fields: seconds and year fields are not supported, use five fields`);
  if (parts.length !== 5)
    fail(`${parts.length} fields; expected five (minute hour day-of-month month day-of-week)`);
  return parts.map((part, i) => normalizeField(part, FIELDS[i]!, fail)).join(' ');
}

function normalizeField(field: string, spec: FieldSpec, fail: (message: string) => never): string {
  if (field === '?') {
    if (!spec.question) fail(`"?" is only allowed in the day fields, not in ${spec.name}`);
    return '*';
  }
  return field
    .split(',')
    .map((item) => normalizeItem(item, spec, fail))
    .join(',');
}

function normalizeItem(item: string, spec: FieldSpec, fail: (message: string) => never): string {
  if (item === '') fail(`an empty list item in ${spec.name}`);
  if (item.includes('#')) fail(`unsupported token "#" in ${spec.name} ("${item}")`);
  for (const word of item.toUpperCase().match(/[A-Z]+/g) ?? []) {
    if (!spec.names?.includes(word)) {
      if (/^(L|W|LW|\d*W)$/.test(word) || word.startsWith('L'))
        fail(`unsupported token "${word}" in ${spec.name} ("${item}")`);
      fail(`an invalid value "${word}" in ${spec.name}`);
    }
  }
  const [range, step, extra] = item.split('/');
  if (extra !== undefined) fail(`a malformed step "${item}" in ${spec.name}`);
  let stepValue: number | undefined;
  if (step !== undefined) {
    if (!/^\d+$/.test(step)) fail(`a malformed step "${item}" in ${spec.name}`);
    stepValue = Number(step);
    if (stepValue === 0) fail(`a zero step "${item}" in ${spec.name}`);
  }
  let low: number;
  let high: number;
  if (range === '*') {
    [low, high] = [spec.min, spec.name === 'day-of-week' ? 6 : spec.max];
  } else {
    const bounds = range!.split('-');
    if (bounds.length > 2 || bounds.some((b) => b === ''))
      fail(`a malformed range "${item}" in ${spec.name}`);
    const values = bounds.map((bound) => parseValue(bound, spec, fail));
    low = values[0]!;
    // `a/n` means "from a to the end, every n".
    high =
      values.length === 2
        ? values[1]!
        : stepValue !== undefined
          ? spec.name === 'day-of-week'
            ? 6
            : spec.max
          : low;
    if (low > high) fail(`a reversed range "${item}" in ${spec.name}`);
  }
  if (range === '*' && stepValue === undefined) return '*'; // a wildcard keeps cron's day-of-month/day-of-week rule
  if (spec.name === 'day-of-week') {
    // Expand weekdays to an explicit list so Sunday-as-7 never reaches the library.
    const days = new Set<number>();
    for (let day = low; day <= high; day += stepValue ?? 1) days.add(day % 7);
    return [...days].sort((a, b) => a - b).join(',');
  }
  if (range === '*') return stepValue !== undefined ? `*/${stepValue}` : '*';
  if (low === high && stepValue === undefined) return String(low);
  return `${low}-${high}${stepValue !== undefined ? `/${stepValue}` : ''}`;
}

function parseValue(text: string, spec: FieldSpec, fail: (message: string) => never): number {
  const upper = text.toUpperCase();
  if (spec.names) {
    const index = spec.names.indexOf(upper);
    if (index >= 0) return index + (spec.nameBase ?? 0);
  }
  if (!/^\d+$/.test(text)) fail(`an invalid value "${text}" in ${spec.name}`);
  const value = Number(text);
  if (value < spec.min || value > spec.max)
    fail(`${value} out of range ${spec.min}-${spec.max} in ${spec.name}`);
  return value;
}
