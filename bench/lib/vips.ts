// VIP ranges used by the benchmark. Each case gets its own /16 so that paths
// from different speakers never compete in BIRD's table and per-protocol
// counts stay exact. None of them collides with the lab's 192.168.80.0/24 or
// fd00:80::/64.

export const AGENT_BASE = 200; // 10.200.0.0/16: agent rules (lb1 and lb2)
export const CLI_BASE = 201; // 10.201.0.0/16: gobgp CLI baseline
export const STREAM_BASE = 202; // 10.202.0.0/16: strategy (a), AddPathStream re-add
export const POLICY_BASE = 203; // 10.203.0.0/16: strategy (b), export policy + soft reset out

export const MAX_VIPS = 65_536;

/** i-th host address of 10.<base>.0.0/16. */
export function vip(base: number, i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_VIPS) throw new Error(`VIP index ${i} out of range 0..${MAX_VIPS - 1}`);
  return `10.${base}.${i >> 8}.${i & 255}`;
}

export function vips(base: number, start: number, n: number): string[] {
  return Array.from({ length: n }, (_, k) => vip(base, start + k));
}
