// The contract between the node's desired state and what makes it true. A
// reconciler hears every NodeEvent, can be told the outside may have
// forgotten what it did (resync), says when it has caught up (whenIdle), and
// stops in two phases: quiesce() (synchronous: no new work, no timers) for
// all of them first, then stop() one after the other (STOP_ORDER).
//
// Which reconcilers run is the mode (see nodeReconcilers.ts): an LB node has
// a datapath, HA and sync; --bgp/--peer add BGP. The registry keeps them in
// one declared order, whatever order they were registered in: events and
// settling follow it, stopping differs in one place (STOP_ORDER).
import type { NodeEvent } from './NodeState.ts';

export interface Reconciler {
  readonly name: ReconcilerName;
  /** A change of the desired state; a returned promise is waited for before the next reconciler hears it. */
  changed?(ev: NodeEvent): void | Promise<void>;
  /** The outside may have forgotten what was done: do it all again. */
  resync?(): void;
  /** Resolves once what has been asked for so far is done. */
  whenIdle?(): Promise<void>;
  /** First phase of a stop: take no new work (synchronous). */
  quiesce?(): void;
  /** Second phase: release what is held. */
  stop?(): Promise<void>;
}

/**
 * The declared order. Events reach the VIP table before BGP reads it; the
 * neighbour's BFD session ends before gobgpd drops the neighbour; connection
 * sync stops before the datapath whose table it fills; BFD peers get
 * AdminDown and the API closes before gobgpd, which it still asks for
 * neighbour state, is stopped.
 */
export const RECONCILER_ORDER = ['role-log', 'vips', 'probes', 'sync', 'datapath', 'ha', 'neighbor-bfd', 'bfd', 'api', 'bgp'] as const;
export type ReconcilerName = (typeof RECONCILER_ORDER)[number];

/**
 * Stopping follows the declared order but for one swap: HA gives its VIP
 * addresses back before the datapath closes. The other way round, a node
 * stopping while it holds a VIP (a lone MASTER, or a stop that is no drain)
 * had a moment when its kernel owned the VIP with no datapath in front, and
 * a packet arriving then got a RST from the kernel instead of being
 * forwarded (or, after the address went, dropped).
 */
export const STOP_ORDER: readonly ReconcilerName[] = RECONCILER_ORDER.map((n) => (n === 'datapath' ? 'ha' : n === 'ha' ? 'datapath' : n));

export class ReconcilerRegistry {
  private list: Reconciler[] = [];

  register(r: Reconciler): void {
    if (this.list.some((x) => x.name === r.name)) throw new Error(`reconciler ${r.name} registered twice`);
    this.list = [...this.list, r].sort((a, b) => RECONCILER_ORDER.indexOf(a.name) - RECONCILER_ORDER.indexOf(b.name));
  }

  get names(): ReconcilerName[] {
    return this.list.map((r) => r.name);
  }

  has(name: ReconcilerName): boolean {
    return this.list.some((r) => r.name === name);
  }

  /** Tells every reconciler, in order; synchronous unless one returns a promise (the rest then hear it after). */
  dispatch(ev: NodeEvent): void | Promise<void> {
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!.changed?.(ev);
      if (p) return p.then(() => this.dispatchIn(list, ev, i + 1));
    }
  }

  resync(): void {
    for (const r of this.list) r.resync?.();
  }

  async whenIdle(): Promise<void> {
    for (const r of this.list) await r.whenIdle?.();
  }

  async stop(): Promise<void> {
    const list = [...this.list].sort((a, b) => STOP_ORDER.indexOf(a.name) - STOP_ORDER.indexOf(b.name));
    for (const r of list) r.quiesce?.();
    for (const r of list) await r.stop?.();
  }

  private async dispatchIn(list: readonly Reconciler[], ev: NodeEvent, from: number): Promise<void> {
    for (let i = from; i < list.length; i++) await list[i]!.changed?.(ev);
  }
}
