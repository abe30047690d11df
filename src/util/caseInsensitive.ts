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
/** Per field list (module constants): the exact names, and the field for each folded name. */
const lookups = new WeakMap<readonly string[], { exact: Set<string>; byFolded: Map<string, string> }>();

function lookupOf(fields: readonly string[]): { exact: Set<string>; byFolded: Map<string, string> } {
  let l = lookups.get(fields);
  if (!l) {
    l = { exact: new Set(fields), byFolded: new Map(fields.map((f) => [fold(f), f])) };
    lookups.set(fields, l);
  }
  return l;
}

export function pickFields<K extends string>(obj: Record<string, unknown>, fields: readonly K[]): Partial<Record<K, unknown>> {
  const { exact: names, byFolded } = lookupOf(fields);
  const exact = new Map<K, unknown>();
  let folded: Map<K, unknown> | undefined;
  for (const key of Object.keys(obj)) {
    // Most clients spell the fields exactly: no folding for them.
    if (names.has(key)) {
      exact.set(key as K, obj[key]);
      continue;
    }
    const field = byFolded.get(fold(key)) as K | undefined;
    if (field === undefined) continue;
    (folded ??= new Map()).set(field, obj[key]);
  }

  const out: Partial<Record<K, unknown>> = {};
  for (const f of fields) {
    const v = exact.has(f) ? exact.get(f) : folded?.get(f);
    if (v !== undefined && v !== null) out[f] = v;
  }
  return out;
}
