// The datapath reconciler: rules whose key is marked dirty are written into
// the eBPF maps (with endpoint liveness and floating addresses) by one
// coalescing pass, and each rule's programmed state is kept for the REST
// answers, the VIP offers and VIP ownership. Rules the datapath refused are
// tried again after a removal and every few seconds.
import type { Datapath, RuleProgramState } from '../datapath/Datapath.ts';
import type { Endpoint, LbRule } from '../lb/LbRule.ts';
import { CoalescingLoop } from '../util/CoalescingLoop.ts';
import { systemClock, unrefTimer, type Clock, type TimerHandle } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';

export interface RuleProgrammerDeps {
  /** The desired rules by key (read at each pass). */
  rules: ReadonlyMap<string, LbRule>;
  datapath(): Datapath | undefined;
  /** Whether an endpoint may get traffic (probes). */
  alive(rule: LbRule, ep: Endpoint): boolean;
  /** An HA instance's floating address, if it has one (fullnat's source). */
  instanceVip(instance: string): string | undefined;
  /** After each rule of a pass: what the datapath carries under `key` now (undefined: nothing). */
  programmed(key: string, rule: LbRule | undefined): void;
  /** A rule went into or out of the datapath: what it advertises changes. */
  offerChanged(key: string, rule: LbRule): void;
  /** A pass ended; `offersChanged`: some rule's offer changed in it. */
  passDone(offersChanged: boolean): void;
  log: Logger;
  /** The retry and the loop's spacing run on it (default: the system clock). */
  clock?: Clock;
}

/** How long a rule the datapath refused waits for its next try (a removal retries at once). */
export const REFUSED_RETRY_MS = 5000;

export class RuleProgrammer {
  readonly loop: CoalescingLoop;
  /** Rules (by key) the next pass must (re)program or remove. */
  private readonly dirty = new Set<string>();
  /** Whether each rule is in the datapath, and if not why. Absent: waiting for its first pass. */
  private readonly state = new Map<string, RuleProgramState>();
  /** Keys whose rule the datapath does not carry (kept beside `state`, so no pass scans the table). */
  private readonly notProgrammed = new Set<string>();
  private retry?: TimerHandle;
  private readonly clock: Clock;

  constructor(private readonly d: RuleProgrammerDeps) {
    this.clock = d.clock ?? systemClock;
    // A pass programs only the rules that changed since the last one. Passes
    // a couple of ms apart still fold a burst of POSTs into a few passes (each
    // pass that removes something reads the connection table once).
    this.loop = new CoalescingLoop(async () => this.pass(), {
      spacingMs: 2,
      clock: this.clock,
      onError: (err) => {
        this.d.log.error({ err: (err as Error).message }, 'programming the datapath failed; retrying');
        return 1000;
      },
    });
  }

  mark(key: string): void {
    this.dirty.add(key);
  }

  stateOf(key: string): RuleProgramState | undefined {
    return this.state.get(key);
  }

  isProgrammed(key: string): boolean {
    return this.state.get(key)?.programmed ?? false;
  }

  get notProgrammedCount(): number {
    return this.notProgrammed.size;
  }

  close(): void {
    this.loop.close();
    if (this.retry !== undefined) this.clock.clearTimer(this.retry);
    this.retry = undefined;
  }

  /** One pass writes the rules that changed, with liveness and floating addresses, into the eBPF maps. */
  async pass(): Promise<void> {
    if (this.dirty.size === 0) return;
    const keys = [...this.dirty];
    this.dirty.clear();
    const rules = this.d.rules;
    const dp = this.d.datapath();
    let result: Map<string, RuleProgramState>;
    if (!dp) {
      result = new Map(keys.map((k) => [k, { programmed: false, reason: 'the eBPF datapath is not loaded on this node' }]));
    } else {
      try {
        result = dp.program(
          keys.map((k) => [k, rules.get(k)] as const),
          {
            alive: (rule, ep) => this.d.alive(rule, ep),
            instanceVip: (instance) => this.d.instanceVip(instance),
            localAddresses: (family) => dp.nodeAddresses(family),
            onLink: (address) => dp.isOnLink(address),
          },
        );
      } catch (err) {
        for (const k of keys) this.dirty.add(k);
        throw err;
      }
    }
    let offersChanged = false;
    let removed = false;
    for (const k of keys) {
      const rule = rules.get(k);
      if (!rule) {
        this.d.programmed(k, undefined);
        removed = true;
        this.state.delete(k);
        this.notProgrammed.delete(k);
        continue;
      }
      const st = result.get(k) ?? { programmed: false, reason: 'not planned' };
      const prev = this.state.get(k);
      this.state.set(k, st);
      this.d.programmed(k, st.programmed ? rule : undefined);
      if (st.programmed) this.notProgrammed.delete(k);
      else this.notProgrammed.add(k);
      if (!st.programmed && (prev?.programmed !== false || prev.reason !== st.reason)) {
        this.d.log.warn({ rule: k, reason: st.reason }, 'rule not programmed into the eBPF datapath; its VIP is not advertised for it');
      }
      if (prev?.programmed !== st.programmed) {
        this.d.offerChanged(k, rule);
        offersChanged = true;
      }
    }
    this.d.passDone(offersChanged);
    // A removal may free what a waiting rule needs; kernel refusals get another try later.
    if (this.notProgrammed.size > 0 && removed) for (const k of this.notProgrammed) this.dirty.add(k);
    if (this.notProgrammed.size > 0 && dp && this.retry === undefined) {
      this.retry = unrefTimer(
        this.clock.setTimer(() => {
          this.retry = undefined;
          for (const k of this.notProgrammed) this.dirty.add(k);
          this.loop.kick();
        }, REFUSED_RETRY_MS),
      );
    }
    if (this.dirty.size > 0) this.loop.kick();
  }
}
