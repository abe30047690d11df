// The bytes of the eBPF maps (native/bpf/lb_maps.h), encoded and decoded in
// TypeScript: addresses and service keys (addressLayout.ts), rules
// (ruleLayout.ts), connection-table entries (ctLayout.ts), re-exported here
// so callers import one module. checkLayout() compares the sizes with the
// ones the C compiler produced, so a drift between the two fails at start.
import { LB_KEY_SIZE } from './addressLayout.ts';
import { CT_KEY_SIZE, CT_VAL_SIZE } from './ctLayout.ts';
import { LB_RULE_SIZE } from './ruleLayout.ts';

export * from './addressLayout.ts';
export * from './ruleLayout.ts';
export * from './ctLayout.ts';

export const LAYOUT_VERSION = 2;

/** LB_STAT_* of lb_maps.h, in order. */
export const STAT_NAMES = [
  'packets',
  'ctHit',
  'ctNew',
  'noEndpoint',
  'notSyn',
  'sourceDenied',
  'natPortsExhausted',
  'ctFull',
  'redirected',
  'toKernel',
  'ctReused',
  'ctConflict',
  'icmpEcho',
  'familyTranslated',
  'translateFailed',
  'sctpNotInit',
  'sctpPaths',
  'sctpAddressRewrites',
  'dsr',
  'dsrNotOnLink',
] as const;

export function checkLayout(native: { version: number; lbKey: number; lbRule: number; ctKey: number; ctVal: number }): void {
  const want = { version: LAYOUT_VERSION, lbKey: LB_KEY_SIZE, lbRule: LB_RULE_SIZE, ctKey: CT_KEY_SIZE, ctVal: CT_VAL_SIZE };
  for (const k of Object.keys(want) as (keyof typeof want)[]) {
    if (native[k] !== want[k]) {
      throw new Error(`eBPF map layout mismatch: ${k} is ${native[k]} in the addon, ${want[k]} in src/datapath/layout.ts; rebuild with npm run build:native`);
    }
  }
}
