import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueConfigurationError } from '../../../src/errors/queue-configuration.error.js';
import { normalizeCron } from '../../../src/schedules/cron-expression.js';

const where = { taskName: 'reports.daily', path: '@Schedule(reports.daily).cron' };
const norm = (expression: string) => normalizeCron(expression, where);

describe('cron subset', () => {
  test('accepted expressions normalise to numbers', () => {
    const vectors: Array<[string, string]> = [
      ['* * * * *', '* * * * *'],
      ['0 2 * * *', '0 2 * * *'],
      ['*/15 9-17 * * MON-FRI', '*/15 9-17 * * 1,2,3,4,5'],
      ['0 0 1 JAN,JUL *', '0 0 1 1,7 *'],
      ['0 12 ? * WED', '0 12 * * 3'],
      ['0 12 * * ?', '0 12 * * *'],
      ['0 0 * * 7', '0 0 * * 0'],
      ['0 0 * * 0', '0 0 * * 0'],
      ['0 0 * * 5-7', '0 0 * * 0,5,6'],
      ['5/20 * * * *', '5-59/20 * * * *'],
      ['0 0 29 2 *', '0 0 29 2 *'],
      ['1,2,3-5 * * jul sun', '1,2,3-5 * * 7 0'],
      ['@hourly', '0 * * * *'],
      ['@daily', '0 0 * * *'],
      ['@weekly', '0 0 * * 0'],
      ['@monthly', '0 0 1 * *'],
      ['@yearly', '0 0 1 1 *'],
    ];
    for (const [input, expected] of vectors) assert.equal(norm(input), expected, input);
  });

  test('rejected expressions name the task, the option and the token', () => {
    const vectors: Array<[string, RegExp]> = [
      ['0 0 0 * * *', /seconds and year fields are not supported/],
      ['0 0 * * * 2030 x', /7 fields/],
      ['@reboot', /unsupported macro "@reboot"/],
      ['0 0 L * *', /unsupported token "L"/],
      ['0 0 15W * *', /unsupported token "W" in day-of-month \("15W"\)/],
      ['0 0 * * 5#3', /unsupported token "#"/],
      ['0 0 * * 5L', /unsupported token "L"|invalid/],
      ['*/0 * * * *', /zero step/],
      ['0 17-9 * * *', /reversed range "17-9"/],
      ['60 * * * *', /60 out of range 0-59 in minute/],
      ['0 24 * * *', /24 out of range/],
      ['0 0 32 * *', /32 out of range/],
      ['0 0 * 13 *', /13 out of range/],
      ['0 0 * FOO *', /invalid value "FOO" in month/],
      ['0 0 * * 8', /8 out of range/],
      ['? 0 * * *', /only allowed in the day fields/],
      ['0 0 * *', /4 fields/],
      ['1-2-3 * * * *', /malformed range/],
      ['*/x * * * *', /invalid value "X" in minute/],
      ['*/5/2 * * * *', /malformed step/],
      ['', /empty/],
    ];
    for (const [input, message] of vectors) {
      assert.throws(
        () => norm(input),
        (error: unknown) => {
          assert.ok(error instanceof QueueConfigurationError, input);
          assert.equal(error.taskName, 'reports.daily');
          assert.equal(error.problems[0]!.path, '@Schedule(reports.daily).cron');
          assert.match(error.message, message, input);
          return true;
        },
      );
    }
  });
});
