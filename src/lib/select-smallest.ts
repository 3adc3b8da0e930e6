/**
 * Reorders `items` so that its first `k` are its `k` smallest by `compare` (in no order among
 * themselves): a quickselect, linear on average, where a sort of every item is n log n. Used where
 * only the few lowest of many are wanted (the file store's counter eviction).
 */
export function selectSmallest<T>(items: T[], k: number, compare: (a: T, b: T) => number): void {
  let low = 0;
  let high = items.length - 1;
  const target = Math.min(k, items.length) - 1;
  if (target < 0) return;
  while (low < high) {
    const pivot = items[low + Math.floor(Math.random() * (high - low + 1))]!;
    // Three-way partition: below, equal to and above the pivot (many equal counts are the rule).
    let lt = low;
    let i = low;
    let gt = high;
    while (i <= gt) {
      const order = compare(items[i]!, pivot);
      if (order < 0) swap(items, lt++, i++);
      else if (order > 0) swap(items, i, gt--);
      else i++;
    }
    if (target < lt) high = lt - 1;
    else if (target > gt) low = gt + 1;
    else return;
  }
}

function swap<T>(items: T[], a: number, b: number): void {
  const item = items[a]!;
  // eslint-disable-next-line no-restricted-syntax -- an array's own indices, in range
  items[a] = items[b]!;
  // eslint-disable-next-line no-restricted-syntax -- an array's own indices, in range
  items[b] = item;
}
