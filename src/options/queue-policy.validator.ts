import type { ConfigurationProblem } from '../errors/queue-configuration.error.js';
import { checkIntegerIn, checkQueueName, shown } from './option-checks.js';
import { VALUE_LIMITS } from './value-limits.js';

const POLICY_KEYS = new Set(['concurrency', 'groupConcurrency', 'rateLimit', 'paused']);
const RATE_LIMIT_KEYS = new Set(['max', 'duration']);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  [Object.prototype, null].includes(Object.getPrototypeOf(value));

/** Every problem of the `queues` module option (per-queue caps, rate limit, paused), by option path. */
export function checkQueuePolicies(problems: ConfigurationProblem[], value: unknown): void {
  if (value === undefined) return;
  if (!isPlainObject(value)) {
    problems.push({
      path: 'queues',
      message: 'must be an object of queue name → { concurrency, groupConcurrency, rateLimit, paused }',
    });
    return;
  }
  for (const [queue, policy] of Object.entries(value)) {
    const at = `queues.${queue}`;
    checkQueueName(problems, 'queues', queue);
    if (!isPlainObject(policy)) {
      problems.push({ path: at, message: `must be an object, got ${shown(policy)}` });
      continue;
    }
    for (const key of Object.keys(policy))
      if (!POLICY_KEYS.has(key))
        problems.push({
          path: `${at}.${key}`,
          message: 'is not a queue option (concurrency, groupConcurrency, rateLimit, paused)',
        });
    for (const key of ['concurrency', 'groupConcurrency'] as const)
      if (policy[key] !== undefined)
        checkIntegerIn(problems, `${at}.${key}`, policy[key], 1, VALUE_LIMITS.maxQueueConcurrency);
    if (policy['paused'] !== undefined && typeof policy['paused'] !== 'boolean')
      problems.push({ path: `${at}.paused`, message: `must be a boolean, got ${shown(policy['paused'])}` });
    const rate = policy['rateLimit'];
    if (rate === undefined) continue;
    if (!isPlainObject(rate)) {
      problems.push({ path: `${at}.rateLimit`, message: `must be { max, duration }, got ${shown(rate)}` });
      continue;
    }
    for (const key of Object.keys(rate))
      if (!RATE_LIMIT_KEYS.has(key))
        problems.push({
          path: `${at}.rateLimit.${key}`,
          message: 'is not a rate limit option (max, duration)',
        });
    checkIntegerIn(problems, `${at}.rateLimit.max`, rate['max'], 1, VALUE_LIMITS.maxRateLimitMax);
    checkIntegerIn(problems, `${at}.rateLimit.duration`, rate['duration'], 1, VALUE_LIMITS.maxTimerMs);
  }
}
