// The roles a starting agent takes from its saved state: one rule, two cases.
//
// 1. An instance that BFD elects (the --ka peer's, or one with a saved
// session with an --ka / --cluster peer) starts NOT_DEFINED whatever it was
// before: the saved role is that of a node that died or stopped, and the peer
// has likely taken over since. Acting on it for even one VIP pass made a
// SIGKILLed MASTER, started again, put the VIP back on its interface and
// announce it with gratuitous ARP, moving the segment to a node the election
// then made BACKUP.
//
// 2. A saved MASTER is a claim from before a restart, not a fact now. While the
// agent was down kube-loxilb (or the operator) may have made another node
// MASTER of the instance; coming back as MASTER would give the instance two
// MASTERs until somebody notices (the Go kube-loxilb sends a role only when
// its own election changes, so it may never notice a fast restart).
//
// So an instance whose role comes from the API (no BFD HA session drives it)
// and was saved as MASTER starts BACKUP, and stays so until:
// - the API sets its role (kube-loxilb re-tells a restarted agent, or an
//   operator does): that word stands;
// - the election takes it over (an --ka session registers for it);
// - the wait ends (--ha-init-wait): then it resumes MASTER, unless one of its
//   HA peers (--ka, --cluster) says it is MASTER of the instance. A peer that
//   cannot be read claims nothing: a node alone, or one whose peer is down,
//   serves again.
// Other instances saved in any other state start in it: only MASTER is a claim.
import type { CiState } from './ClusterState.ts';
import type { PeerRoleView } from './HaManager.ts';
import { systemClock, unrefTimer, type Clock, type TimerHandle } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { silentLogger } from '../util/logger.ts';

export interface RoleRestoreHost {
  /** The instance's role is now driven by BFD (an HA session exists for it). */
  elected(instance: string): boolean;
  /** The instance's HA peers' views, read now (unreadable: no view). */
  readPeers(instance: string): Promise<{ remoteIp: string; view?: PeerRoleView }[]>;
  /** Makes the instance MASTER again (the saved claim stands). */
  resume(instance: string, reason: string): void;
}

export interface RoleRestoreOptions {
  waitMs: number;
  clock?: Clock;
  logger?: Logger;
}

export class RoleRestore {
  /** Saved MASTERs not confirmed yet; their timer once begin() ran. */
  private readonly pending = new Map<string, TimerHandle | undefined>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly waitMs: number;
  private readonly deadlines = new Map<string, number>();

  constructor(
    private readonly host: RoleRestoreHost,
    opts: RoleRestoreOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ part: 'role-restore' });
    this.waitMs = opts.waitMs;
  }

  /**
   * The states to start with (the one entry point of the start-up rule):
   * an instance in `elected` (BFD elects it) starts NOT_DEFINED, keeping its
   * floating address; any other saved MASTER becomes BACKUP until it is
   * confirmed (see above); the rest start as saved. Call once, with what the
   * config store loaded; the wait starts with begin(), once the API can be
   * reached. The input is not changed.
   */
  restore(saved: readonly CiState[], elected: ReadonlySet<string> = new Set()): CiState[] {
    return saved.map((s) => {
      if (elected.has(s.instance)) return { ...s, state: 'NOT_DEFINED' };
      if (s.state !== 'MASTER') return { ...s };
      this.pending.set(s.instance, undefined);
      this.log.info({ instance: s.instance, waitMs: this.waitMs }, 'saved MASTER starts BACKUP until the election, the API or the end of the wait confirms it');
      return { ...s, state: 'BACKUP' };
    });
  }

  /** The agent answers its API now: the wait for a word on each saved MASTER starts. */
  begin(): void {
    for (const [instance, timer] of this.pending) {
      if (timer !== undefined) continue;
      this.deadlines.set(instance, this.clock.now() + this.waitMs);
      this.pending.set(instance, unrefTimer(this.clock.setTimer(() => void this.decide(instance), this.waitMs)));
    }
  }

  /** The API set the instance's role (or deleted it): nothing to resume. */
  settle(instance: string): void {
    if (!this.pending.has(instance)) return;
    const t = this.pending.get(instance);
    if (t !== undefined) this.clock.clearTimer(t);
    this.pending.delete(instance);
    this.deadlines.delete(instance);
  }

  /** A saved MASTER not confirmed yet (GET config/cistate says so). */
  waiting(instance: string): boolean {
    return this.pending.has(instance);
  }

  /** Milliseconds left before the instance's saved MASTER is decided; undefined before begin() or when none waits. */
  remainingMs(instance: string): number | undefined {
    const d = this.deadlines.get(instance);
    return d === undefined ? undefined : Math.max(0, d - this.clock.now());
  }

  stop(): void {
    for (const i of [...this.pending.keys()]) this.settle(i);
  }

  private async decide(instance: string): Promise<void> {
    if (!this.pending.has(instance)) return;
    if (this.host.elected(instance)) {
      this.settle(instance);
      return;
    }
    let peers: { remoteIp: string; view?: PeerRoleView }[] = [];
    try {
      peers = await this.host.readPeers(instance);
    } catch (err) {
      this.log.warn({ instance, err: (err as Error).message }, 'cannot read the HA peers; taking none as MASTER');
    }
    // Settled while the peers were read (the API spoke, the election took over).
    if (!this.pending.has(instance) || this.host.elected(instance)) {
      this.settle(instance);
      return;
    }
    this.settle(instance);
    const master = peers.find((p) => p.view?.state === 'MASTER');
    if (master) {
      this.log.info({ instance, peer: master.remoteIp }, 'saved MASTER stays BACKUP: a peer is MASTER of the instance');
      return;
    }
    this.host.resume(instance, `saved MASTER resumed: nobody set the role within ${this.waitMs} ms and no peer is MASTER`);
  }
}
