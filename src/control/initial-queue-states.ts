import type { QueueBackend } from '../backends/queue-backend.js';
import type { QueuePolicies } from '../options/queue-policy.js';

/**
 * Apply the module option `queues[q].paused: true` at boot, only to queues whose state was never stored: a pause or
 * resume made through a queue handle (stored in the backend) outlives restarts and wins over the option, so every
 * process of a deployment boots into the state an operator last set, whatever its options say. `paused: false` (the
 * default state) stores nothing. Processes booting at once store it once. Returns the queues this call paused.
 */
export async function applyInitialQueueStates(
  backend: QueueBackend,
  policies: QueuePolicies | undefined,
): Promise<string[]> {
  const paused: string[] = [];
  for (const [queue, policy] of Object.entries(policies ?? {})) {
    if (policy?.paused !== true) continue;
    if (await backend.setQueuePaused(queue, true, { ifUnset: true })) paused.push(queue);
  }
  return paused;
}
