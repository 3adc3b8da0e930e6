/**
 * Bytes held at once across the whole process by one kind of buffered input (request bodies,
 * identity providers' answers): each input's own bound alone let N clients hold N times it. What
 * is taken is given back when its holder is done; what would pass the budget is refused and counted.
 */
export class ByteBudget {
  private heldBytes = 0;
  private refusedCount = 0;

  constructor(readonly bytes: number) {}

  /** Bytes taken and not given back. */
  get held(): number {
    return this.heldBytes;
  }

  /** Takes refused because the budget was spent. */
  get refused(): number {
    return this.refusedCount;
  }

  /** Takes `count` bytes, or nothing and false (counted as refused) when that would pass the budget. */
  take(count: number): boolean {
    if (this.heldBytes + count > this.bytes) {
      this.refusedCount += 1;
      return false;
    }
    this.heldBytes += count;
    return true;
  }

  give(count: number): void {
    this.heldBytes -= count;
  }
}
