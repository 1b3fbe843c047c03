import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueConfigurationError } from '../../../src/errors/queue-configuration.error.js';
import { validateModuleOptions } from '../../../src/options/module-options.validator.js';
import type { QueuesModuleOptions } from '../../../src/options/queues-module-options.js';
import { enqueueProblems } from '../../../src/service/enqueue-options.validator.js';

/** The problems of `queues`, as `path: message` lines (none: []). */
function problemsOf(queues: unknown): string[] {
  try {
    validateModuleOptions({ queues } as QueuesModuleOptions);
    return [];
  } catch (error) {
    assert.ok(error instanceof QueueConfigurationError, String(error));
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('module option queues', () => {
  test('valid policies pass', () => {
    assert.deepEqual(
      problemsOf({
        files: { concurrency: 5, groupConcurrency: 1, rateLimit: { max: 10, duration: 1000 }, paused: false },
        'mail.out': { rateLimit: { max: 100_000, duration: 2 ** 31 - 1 } },
        empty: {},
      }),
      [],
    );
  });

  test('every bad value is named by its path, all at once', () => {
    const problems = problemsOf({
      files: {
        concurrency: 0,
        groupConcurrency: 1.5,
        rateLimit: { max: 100_001, duration: 2 ** 31, burst: 1 },
        paused: 'yes',
        limit: 3,
      },
      'bad queue': {},
      other: null,
      third: { rateLimit: 5 },
      fourth: { concurrency: Infinity, groupConcurrency: '2', rateLimit: { max: -1, duration: NaN } },
    });
    const paths = problems.map((line) => line.slice(0, line.indexOf(':', line.indexOf('queues') + 7)));
    for (const path of [
      'queues.files.concurrency',
      'queues.files.groupConcurrency',
      'queues.files.rateLimit.max',
      'queues.files.rateLimit.duration',
      'queues.files.rateLimit.burst',
      'queues.files.paused',
      'queues.files.limit',
      'queues.other',
      'queues.third.rateLimit',
      'queues.fourth.concurrency',
      'queues.fourth.groupConcurrency',
      'queues.fourth.rateLimit.max',
      'queues.fourth.rateLimit.duration',
    ])
      assert.ok(paths.includes(path), `${path} missing from:\n${problems.join('\n')}`);
    assert.ok(problems.some((line) => line.includes('"bad queue" is not a valid queue name')));
  });

  test('a missing rate limit field is a problem; a non-object queues is one', () => {
    assert.deepEqual(problemsOf({ q: { rateLimit: { max: 5 } } }), [
      'queues.q.rateLimit.duration: must be an integer from 1 to 2147483647, got undefined',
    ]);
    assert.equal(problemsOf(['files']).length, 1);
    assert.equal(problemsOf('files').length, 1);
  });
});

describe('enqueue option group', () => {
  const problems = (group: unknown) =>
    enqueueProblems('demo.task', [], { group } as never, ['local']).map((p) => `${p.path}: ${p.message}`);

  test('a group of 1-255 well-formed characters passes', () => {
    assert.deepEqual(problems('tenant-42'), []);
    assert.deepEqual(problems('x'.repeat(255)), []);
    assert.deepEqual(problems('🙂'.repeat(127)), []);
  });

  test('empty, too long, NUL, lone surrogates and non-strings are refused, naming the option', () => {
    for (const bad of ['', 'x'.repeat(256), 'a\0b', 'x\uD800', '\uDC00y', 42, null, {}]) {
      const found = problems(bad);
      assert.equal(found.length, 1, `${JSON.stringify(bad)}: ${found.join('; ')}`);
      assert.match(found[0]!, /^enqueue\(demo\.task\)\.options\.group: /);
    }
  });
});
