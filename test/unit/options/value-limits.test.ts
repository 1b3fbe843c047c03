import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueConfigurationError } from '../../../src/errors/queue-configuration.error.js';
import { validateModuleOptions } from '../../../src/options/module-options.validator.js';
import type { QueuesModuleOptions } from '../../../src/options/queues-module-options.js';
import type { EnqueueOptions, TaskOptions } from '../../../src/options/task-options.js';
import { VALUE_LIMITS } from '../../../src/options/value-limits.js';
import { enqueueProblems } from '../../../src/service/enqueue-options.validator.js';
import { resolveTaskOptions } from '../../../src/tasks/task-definition.js';
import { validateTaskDefinition } from '../../../src/tasks/task-options.validator.js';

const INT32 = 2 ** 31;
/** A test name for options: Infinity stays Infinity (JSON would show null). */
const named = (options: object) =>
  JSON.stringify(options, (_, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
  ).slice(0, 60);
const THIRTY_DAYS = 30 * 24 * 3600 * 1000;

/** The one problem `options` gives at enqueue, as `path: message`. */
const enqueueProblem = (options: EnqueueOptions): string => {
  const problems = enqueueProblems('demo.task', [], options, ['local']);
  assert.equal(problems.length, 1, `${JSON.stringify(options)}: ${JSON.stringify(problems)}`);
  return `${problems[0]!.path}: ${problems[0]!.message}`;
};

const taskProblems = (options: TaskOptions): string => {
  try {
    validateTaskDefinition({
      name: 'demo.task',
      options: resolveTaskOptions(options),
      schedules: [],
      owner: 'Demo.run',
      injectedParams: [],
      handler: () => undefined,
    });
  } catch (error) {
    assert.ok(error instanceof QueueConfigurationError, String(error));
    return error.message;
  }
  return 'accepted';
};

describe('enqueue options: every value the stores cannot hold exactly is refused, naming field, value and limit', () => {
  const cases: Array<[EnqueueOptions, RegExp]> = [
    [
      { priority: INT32 },
      /options\.priority: must be an integer from -2147483648 to 2147483647, got 2147483648/,
    ],
    [{ priority: -INT32 - 1 }, /options\.priority: .* got -2147483649/],
    [{ priority: 1.5 }, /options\.priority: .* got 1.5/],
    [{ priority: Infinity }, /options\.priority: .* got Infinity/],
    [{ maxRetries: INT32 }, /options\.maxRetries: must be at most 2147483647, got 2147483648/],
    [{ maxRetries: -1 }, /options\.maxRetries: must be a non-negative integer, got -1/],
    [{ maxRetries: 0.5 }, /options\.maxRetries: must be a non-negative integer, got 0.5/],
    [{ key: 'k'.repeat(256) }, /options\.key: must be a string of 1-255 characters, got 256 characters/],
    [{ key: '' }, /options\.key: must be a string of 1-255 characters/],
    [{ key: 'bad\0key' }, /options\.key: must not contain a NUL character .*got "bad\\u0000key"/],
    [{ key: 'x\uD800' }, /options\.key: must be well-formed Unicode .*got "x\\ud800"/],
    [{ key: 'x\uDC00' }, /options\.key: must be well-formed Unicode/],
    [
      { executionProfile: 'p'.repeat(256) },
      /options\.executionProfile: must be a string of 1-255 characters/,
    ],
    [{ executionProfile: 'p\0' }, /options\.executionProfile: must not contain a NUL/],
    [{ executionProfile: '\uDFFFp' }, /options\.executionProfile: must be well-formed Unicode/],
    [{ queue: 'q'.repeat(101) }, /options\.queue: .* is not a valid queue name \(1-100/],
    [{ queue: 'q\uD800' }, /options\.queue: .* is not a valid queue name/],
    [{ timeout: Infinity }, /options\.timeout: must be a positive number of ms, got Infinity/],
    [{ timeout: 1e16 }, /options\.timeout: must be at most 315360000000 ms, got 10000000000000000/],
    [{ delay: 1e16 }, /options\.delay: must be at most 315360000000 ms/],
  ];
  for (const [options, message] of cases) {
    test(named(options), () => assert.match(enqueueProblem(options), message));
  }

  test('the limits themselves, long timeouts and well-formed non-ASCII text are accepted', () => {
    const fine: EnqueueOptions[] = [
      { priority: VALUE_LIMITS.int32Max },
      { priority: VALUE_LIMITS.int32Min },
      { maxRetries: VALUE_LIMITS.int32Max },
      { key: 'k'.repeat(255) },
      { key: 'ü😀 key with a pair' },
      { executionProfile: 'p'.repeat(255) },
      { timeout: THIRTY_DAYS },
      { delay: VALUE_LIMITS.maxDurationMs },
    ];
    for (const options of fine)
      assert.deepEqual(enqueueProblems('demo.task', [], options, ['local']), [], JSON.stringify(options));
  });
});

describe('@Task options: the same limits', () => {
  const cases: Array<[TaskOptions, RegExp]> = [
    [{ priority: INT32 }, /\.priority: must be an integer from -2147483648 to 2147483647, got 2147483648/],
    [{ priority: -INT32 - 1 }, /\.priority: .* got -2147483649/],
    [{ retries: INT32 }, /\.retries: must be at most 2147483647/],
    [{ retries: 1.5 }, /\.retries: must be a non-negative integer/],
    [{ key: 'k\0' }, /\.key: must not contain a NUL/],
    [{ key: 'k\uD800' }, /\.key: must be well-formed Unicode/],
    [{ key: 'k'.repeat(256) }, /\.key: must be a string of 1-255 characters/],
    [{ executionProfile: 'p'.repeat(256) }, /\.executionProfile: must be a string of 1-255/],
    [{ executionProfile: 'p\0' }, /\.executionProfile: must not contain a NUL/],
    [{ timeout: 1e16 }, /\.timeout: must be at most 315360000000 ms/],
    [{ timeout: Infinity }, /\.timeout: must be a positive number of ms, got Infinity/],
    [{ retryBackoff: Infinity }, /\.retryBackoff: must be a non-negative number of ms, got Infinity/],
    [{ retryBackoff: 1e16 }, /\.retryBackoff: must be at most 315360000000 ms/],
    [{ retryBackoff: { initialDelay: Infinity } }, /\.retryBackoff\.initialDelay: .* got Infinity/],
    [{ retryBackoff: { initialDelay: 1e16 } }, /\.retryBackoff\.initialDelay: must be at most/],
    [
      { retryBackoff: { initialDelay: 10, multiplier: Infinity } },
      /\.retryBackoff\.multiplier: must be a finite/,
    ],
    [{ retryBackoff: { initialDelay: 10, maxDelay: Infinity } }, /\.retryBackoff\.maxDelay: .* got Infinity/],
    [{ retryBackoff: { initialDelay: 10, jitter: 1e308 } }, /\.retryBackoff\.jitter: must be at most/],
    [{ description: 'd\uD800' }, /\.description: must be well-formed Unicode/],
  ];
  for (const [options, message] of cases) {
    test(named(options), () => assert.match(taskProblems(options), message));
  }

  test('limits and long timeouts are accepted', () => {
    for (const options of [
      { priority: VALUE_LIMITS.int32Max, retries: VALUE_LIMITS.int32Max, timeout: THIRTY_DAYS },
      { priority: VALUE_LIMITS.int32Min, key: 'k'.repeat(255), executionProfile: 'p'.repeat(255) },
      { retryBackoff: { initialDelay: 1_000, multiplier: 3, maxDelay: VALUE_LIMITS.maxDurationMs } },
    ] satisfies TaskOptions[])
      assert.equal(taskProblems(options), 'accepted', JSON.stringify(options));
  });
});

describe('module options: worker timers and staleAfter against the values in effect', () => {
  const problem = (options: QueuesModuleOptions): string => {
    try {
      validateModuleOptions(options);
    } catch (error) {
      assert.ok(error instanceof QueueConfigurationError, String(error));
      return error.message;
    }
    return 'accepted';
  };

  test('staleAfter is checked against the default heartbeat (10 s), and heartbeatInterval against the default staleAfter', () => {
    assert.match(
      problem({ worker: { staleAfter: 5_000 } }),
      /worker\.staleAfter: must be longer than worker\.heartbeatInterval.*staleAfter 5000 ms, heartbeatInterval 10000 ms \(default\)/,
    );
    assert.match(
      problem({ worker: { heartbeatInterval: 90_000 } }),
      /staleAfter 60000 ms \(default\), heartbeatInterval 90000 ms/,
    );
    assert.equal(problem({ worker: { staleAfter: 15_000 } }), 'accepted');
    assert.equal(problem({ worker: { heartbeatInterval: 1_000, staleAfter: 5_000 } }), 'accepted');
  });

  test('an interval one setTimeout cannot hold (2^31 ms or more) is refused, naming the limit', () => {
    for (const key of [
      'pollInterval',
      'maxPollInterval',
      'staleCheckInterval',
      'reconcileInterval',
      'shutdownTimeout',
    ])
      assert.match(
        problem({ worker: { [key]: INT32 } }),
        new RegExp(`worker\\.${key}: must be at most 2147483647 ms, got 2147483648`),
      );
    assert.match(
      problem({ worker: { heartbeatInterval: INT32, staleAfter: INT32 + 1 } }),
      /worker\.heartbeatInterval: must be at most 2147483647 ms/,
    );
    assert.match(
      problem({ worker: { cleanup: { interval: INT32 } } }),
      /worker\.cleanup\.interval: must be at most/,
    );
    assert.match(
      problem({ worker: { cleanup: { retention: 1e300 } } }),
      /worker\.cleanup\.retention: must be at most 315360000000 ms/,
    );
    assert.equal(problem({ worker: { pollInterval: VALUE_LIMITS.maxTimerMs } }), 'accepted');
  });

  test('a workerId the worker_id column cannot hold is refused', () => {
    assert.match(
      problem({ worker: { workerId: 'w'.repeat(256) } }),
      /worker\.workerId: must be a string of 1-255/,
    );
    assert.match(problem({ worker: { workerId: 'w\0' } }), /worker\.workerId: must not contain a NUL/);
    assert.equal(problem({ worker: { workerId: 'w'.repeat(255) } }), 'accepted');
  });
});
