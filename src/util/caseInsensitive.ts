// Reads JSON objects the way loxilb's Go encoding/json does: a key matches a
// field case-insensitively and unknown keys are ignored. Clients depend on it
// (kube-loxilb sends `BGP`, `Monitor`, `setNextHopSelf`).

/** Go's case folding also maps the long s and the Kelvin sign onto ASCII letters. */
function fold(key: string): string {
  return key.toLowerCase().replace(/\u017f/g, 's');
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Picks the canonical `fields` out of `obj`. An exact-case key wins over a
 * case-folded one; among several folded matches the last one in the object
 * wins, as repeated keys do in Go. JSON `null` counts as absent, since Go
 * leaves a non-pointer field at its zero value for it.
 */
export function pickFields<K extends string>(obj: Record<string, unknown>, fields: readonly K[]): Partial<Record<K, unknown>> {
  const byFolded = new Map<string, K>();
  for (const f of fields) byFolded.set(fold(f), f);

  const exact = new Map<K, unknown>();
  const folded = new Map<K, unknown>();
  for (const key of Object.keys(obj)) {
    const field = byFolded.get(fold(key));
    if (field === undefined) continue;
    (key === field ? exact : folded).set(field, obj[key]);
  }

  const out: Partial<Record<K, unknown>> = {};
  for (const f of fields) {
    const v = exact.has(f) ? exact.get(f) : folded.get(f);
    if (v !== undefined && v !== null) out[f] = v;
  }
  return out;
}
