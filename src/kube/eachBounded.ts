// Bounded concurrency for the controller's bursts of requests (status
// patches, rule posts): enough in flight to hide round trips, few enough not
// to flood the API server or an agent.

/**
 * Calls `work` for each item in order, at most `limit` at a time; once
 * `halted()` is true no further item is started (those running finish).
 * If `work` throws, the returned promise rejects with it while the other
 * lanes run on; callers that must finish every item catch inside `work`.
 */
export async function eachBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, halted: () => boolean = () => false): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length && !halted()) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
}
