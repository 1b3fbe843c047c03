/** Where a ready record stands in the memory backend's claim order. */
export interface ClaimPosition {
  priority: number;
  /** Epoch ms. */
  queuedAt: number;
  /** Insertion sequence: the FIFO tie-breaker. */
  seq: number;
}

/** Whether `a` is claimed before `b`: higher priority first, then earlier `queuedAt`, then insertion order. */
export const claimOrder = (a: ClaimPosition, b: ClaimPosition): boolean =>
  a.priority !== b.priority
    ? a.priority > b.priority
    : a.queuedAt !== b.queuedAt
      ? a.queuedAt < b.queuedAt
      : a.seq < b.seq;
