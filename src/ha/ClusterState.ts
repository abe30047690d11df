// HA instance states (reference §3.1). The agent holds one record per
// instance; `llb-inst0` exists from the start as NOT_DEFINED.

export const CI_STATES = ['MASTER', 'BACKUP', 'FAULT', 'STOP', 'NOT_DEFINED'] as const;
export type CiStateName = (typeof CI_STATES)[number];

export interface CiState {
  instance: string;
  state: CiStateName;
  /** Floating service address of the instance; "0.0.0.0" when unset. */
  vip: string;
}
