// The CI states (each HA instance's role and floating address): the part of
// the node's desired state that elections and the API change. A change is
// saved (before the answer for the API; after, off the event loop, for an
// election, whose fsyncs would delay every failover) and then told to every
// listener, in the order they subscribed. The map is replaced on each change,
// never changed in place, so a reader holding it sees one consistent set.
import type { CiState } from '../ha/ClusterState.ts';
import { processFaults } from '../util/faults.ts';
import type { Logger } from '../util/logger.ts';

export interface CiStateChange {
  /** The instance's state before (undefined: new instance). */
  cur?: CiState;
  next: CiState;
  reason: string;
  /** Every state after the change. */
  states: ReadonlyMap<string, CiState>;
}

export interface CiStateSaver {
  saveCiStates(states: CiState[]): void;
  saveCiStatesAsync(states: CiState[]): Promise<void>;
}

export class CiStateTable {
  private states = new Map<string, CiState>();
  /** An asynchronous save in flight; `again`: states changed meanwhile. */
  private saving?: { again: boolean; done: Promise<void> };
  private readonly listeners: ((c: CiStateChange) => void)[] = [];

  constructor(
    private readonly store: CiStateSaver,
    private readonly log: Logger,
  ) {}

  get all(): ReadonlyMap<string, CiState> {
    return this.states;
  }

  get(instance: string): CiState | undefined {
    return this.states.get(instance);
  }

  /** Start-up: states taken as they are, not saved, nobody told. */
  restore(states: Iterable<CiState>): void {
    for (const s of states) this.states.set(s.instance, s);
  }

  onChange(listener: (c: CiStateChange) => void): void {
    this.listeners.push(listener);
  }

  /** Every change of state, from BFD or the API; the same state again changes nothing. A failed `mustSave` save throws and changes nothing. */
  set(s: CiState, reason: string, mustSave: boolean): void {
    const cur = this.states.get(s.instance);
    if (cur && cur.state === s.state && cur.vip === s.vip) return;
    const next = new Map(this.states);
    next.set(s.instance, { ...s });
    if (mustSave) {
      this.store.saveCiStates([...next.values()]);
      if (this.saving) this.saving.again = true;
    }
    this.states = next;
    if (!mustSave) this.saveSoon();
    const change: CiStateChange = { cur, next: s, reason, states: next };
    for (const l of this.listeners) l(change);
  }

  /** The instance is BFD-elected from now on: NOT_DEFINED (holds no VIP) until the election; not saved, nobody told. */
  reset(instance: string): ReadonlyMap<string, CiState> {
    const cur = this.states.get(instance);
    this.states = new Map(this.states).set(instance, { instance, state: 'NOT_DEFINED', vip: cur?.vip ?? '0.0.0.0' });
    return this.states;
  }

  /** Resolves once no asynchronous save is in flight. */
  async whenSaved(): Promise<void> {
    await this.saving?.done;
  }

  /** Writes the current states off the event loop; one write at a time, the last one with the latest states. */
  private saveSoon(): void {
    if (this.saving) {
      this.saving.again = true;
      return;
    }
    const run = { again: false, done: Promise.resolve() };
    this.saving = run;
    run.done = (async () => {
      try {
        do {
          run.again = false;
          await this.store.saveCiStatesAsync([...this.states.values()]);
        } while (run.again);
      } catch (err) {
        processFaults.record('saving HA states', err, this.log);
      } finally {
        this.saving = undefined;
      }
    })();
  }
}
