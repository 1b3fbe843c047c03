/**
 * Each id's 1-based position in a batch, as the text of one jsonb object (`{"<id>": n}`), for PostgreSQL statements
 * that read a row's own item from the batch's arrays: `(items)[(positions ->> t.id)::integer]` is one lookup in the
 * object's sorted keys, where `array_position(ids, t.id)` walks the ids for every row, n²/2 comparisons for a batch
 * of n (docs/performance.md: 4 of 36 µs of server CPU per job at 200 a batch, 10 of 40 at 500). The first of
 * duplicate ids keeps its position, as `array_position` finds it; an id outside the batch has none, so a read at it
 * is NULL and a fence on it fails.
 */
export function batchPositions(ids: readonly string[]): string {
  // No prototype: an id such as `__proto__` is an own key like any other.
  const positions: Record<string, number> = Object.create(null);
  ids.forEach((id, i) => {
    if (!Object.hasOwn(positions, id)) positions[id] = i + 1;
  });
  return JSON.stringify(positions);
}
