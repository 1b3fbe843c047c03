// Every benchmark target, ours first, then the peers; BENCH_ONLY picks some by name.
import { ONLY } from './config.mjs';
import { ours } from './ours.mjs';
import { bullmqTargets } from './peers/bullmq.mjs';
import { graphileTargets } from './peers/graphile.mjs';
import { pgBossTargets } from './peers/pgboss.mjs';

export const allTargets = [...ours, ...bullmqTargets, ...pgBossTargets, ...graphileTargets];
export const selectedTargets = ONLY ? allTargets.filter((t) => ONLY.includes(t.name)) : allTargets;
