/**
 * The memory backend's flow links: each child's parent, each parent's children in flow order, and each parent's
 * counter of unfinished children. Plain maps: the backend's calls never await midway, so each is atomic.
 */
export class MemoryFlowLinks {
  private readonly parents = new Map<string, string>();
  private readonly children = new Map<string, Set<string>>();
  private readonly unfinished = new Map<string, number>();

  /** Link a new flow record (parents are added before their children). */
  add(id: string, parentId: string | null, childCount: number): void {
    if (childCount > 0) {
      this.unfinished.set(id, childCount);
      this.children.set(id, new Set());
    }
    if (parentId === null) return;
    this.parents.set(id, parentId);
    this.children.get(parentId)?.add(id);
  }

  parentOf(id: string): string | undefined {
    return this.parents.get(id);
  }

  childrenOf(parentId: string): string[] {
    return [...(this.children.get(parentId) ?? [])];
  }

  /**
   * A child reached a terminal status: decrement its parent's counter. Returns the parent's id when this child was
   * its last unfinished one (exactly once per parent), else `undefined`.
   */
  childEnded(childId: string): string | undefined {
    const parentId = this.parents.get(childId);
    if (parentId === undefined) return undefined;
    const left = (this.unfinished.get(parentId) ?? 0) - 1;
    if (left < 0) return undefined;
    this.unfinished.set(parentId, left);
    return left === 0 ? parentId : undefined;
  }

  /** A record was deleted (cleanup): forget its links. */
  remove(id: string): void {
    const parentId = this.parents.get(id);
    if (parentId !== undefined) {
      this.parents.delete(id);
      this.children.get(parentId)?.delete(id);
    }
    this.children.delete(id);
    this.unfinished.delete(id);
  }
}
