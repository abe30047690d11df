// Which BGP peers to make anew after their session ends, from gobgpd's peer
// watch. gobgpd 3.10 puts a peer whose Established session ended (the
// router's NOTIFICATION on a restart or `clear bgp`, a TCP reset, the hold
// timer) in Idle for 5 s (holdtimeIdle, after the first time) and closes
// every connection the router makes meanwhile; then it waits 5-10 s before
// its own first dial. A router that dials at once (BIRD) is refused for 5 s;
// one that was refused (FRR) waits its connect retry (120 s by default), so
// the session is back only at gobgpd's dial, 10-15 s later. A peer made anew
// is Active at once and takes the router's connection (planBgpConfig does it
// for a peer the reconciler is told to revive and still finds Idle).
//
// Damped: a session that was Established for less than REVIVE_MIN_UP_MS
// keeps gobgpd's own hold, so a router that takes the session and drops it
// again at once (a policy it refuses, a bad OPEN parameter) is not redialled
// faster than gobgpd would.
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { PeerInfo } from './GobgpControl.ts';

/** A session up at least this long is made anew when it ends; a shorter one keeps gobgpd's 5 s hold. */
export const REVIVE_MIN_UP_MS = 5000;

/** What the peer watch reports of one peer, the fields this needs (address in canonical text). */
export type PeerStateEvent = Pick<PeerInfo, 'address' | 'sessionState' | 'adminState'>;

export class PeerRevival {
  /** Established since (clock ms), by address; absent while not Established. */
  private readonly upSince = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly revive: (address: string) => void,
    private readonly log: Logger,
  ) {}

  onPeer(p: PeerStateEvent): void {
    const since = this.upSince.get(p.address);
    if (p.sessionState === 'ESTABLISHED') {
      if (since === undefined) this.upSince.set(p.address, this.clock.now());
      return;
    }
    if (since === undefined) return;
    this.upSince.delete(p.address);
    // Admin-down is ours (BFD Down, a drain) or an operator's; PFX_CT is a
    // max-prefix shutdown: neither is to be undone here.
    if (p.sessionState !== 'IDLE' || p.adminState !== 'UP') return;
    const upMs = this.clock.now() - since;
    if (upMs < REVIVE_MIN_UP_MS) {
      this.log.info({ neighbor: p.address, upMs }, 'BGP session ended after a short time up: gobgpd holds the peer Idle 5 s');
      return;
    }
    this.log.info({ neighbor: p.address, upMs }, 'BGP session ended: making the peer anew so it takes the next connection at once');
    this.revive(p.address);
  }

  /** The watch or gobgpd went away: what was Established is not known any more. */
  reset(): void {
    this.upSince.clear();
  }
}
