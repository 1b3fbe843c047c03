/** A run of a task: when it started and ended (ms), or `[start, end]`. */
export type RunSpan = { start: number; end: number } | readonly [number, number];

/** Most runs open at once (an end and a start at the same instant do not overlap): what a concurrency cap bounds. */
export function peakOverlap(runs: readonly RunSpan[]): number {
  const edges = runs.flatMap((run) => {
    const [start, end] = Array.isArray(run)
      ? run
      : [(run as { start: number }).start, (run as { end: number }).end];
    return [
      [start, 1],
      [end, -1],
    ];
  }) as Array<[number, number]>;
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, step] of edges) peak = Math.max(peak, (open += step));
  return peak;
}
