import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import { checkNonNegativeNumber, checkPositiveNumber, shown } from '../options/option-checks.js';
import type { WaitForOptions } from './queue.service.js';

const KNOWN_OPTIONS = new Set(['timeout', 'pollInterval']);

/**
 * Throws `QueueConfigurationError` listing every problem of `waitFor`'s options: `timeout` from 0 to ten years (a
 * chain of timers holds any of them, see `setLongTimeout`), `pollInterval` above 0 and at most ten years (longer than
 * one timer, 2^31 - 1 ms, it is cut to one). Unchecked, a zero, negative or NaN poll interval made rxjs poll the
 * store without pause, and a NaN timeout never expired (a record that never ends was waited for forever, re-arming a
 * 1 ms timer).
 */
export function assertWaitForOptions(options: unknown): asserts options is WaitForOptions {
  const problems: ConfigurationProblem[] = [];
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    problems.push({ path: 'options', message: `must be a plain object, got ${shown(options)}` });
  } else {
    const o = options as Record<string, unknown>;
    for (const name of Object.keys(o))
      if (!KNOWN_OPTIONS.has(name))
        problems.push({
          path: `options.${name}`,
          message: 'is not a waitFor option (timeout, pollInterval)',
        });
    if (o['timeout'] !== undefined) checkNonNegativeNumber(problems, 'options.timeout', o['timeout']);
    if (o['pollInterval'] !== undefined)
      checkPositiveNumber(problems, 'options.pollInterval', o['pollInterval']);
  }
  if (problems.length) throw new QueueConfigurationError(problems, { title: 'Invalid waitFor' });
}
