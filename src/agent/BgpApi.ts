// The BGP part of the agent's API: config/bgp/global and config/bgp/neigh.
// Writes go into the node's desired state (NodeState), whose reconcilers
// bring gobgpd and the neighbours' BFD sessions along before the answer;
// the neighbour list joins the config with gobgpd's live sessions. Without
// --bgp / --peer the refusing stand-in answers 'loxilb BGP mode is disabled'.
import type { AgentApi } from '../api/AgentApi.ts';
import { BGP_DISABLED_TEXT } from '../api/routes.ts';
import { bgpNeighborList, type LivePeer } from '../api/stateViews.ts';
import type { BgpGlobalConfig, BgpNeighborConfig, BgpNeighborStatus } from '../bgp/BgpConfig.ts';
import type { GobgpClient } from '../bgp/GobgpClient.ts';
import { ForbiddenError } from '../util/errors.ts';
import type { Logger } from '../util/logger.ts';
import type { NodeState } from './NodeState.ts';

export type BgpApi = Pick<AgentApi, 'setBgpGlobal' | 'addBgpNeighbor' | 'deleteBgpNeighbor' | 'listBgpNeighbors'>;

export class BgpApiPart implements BgpApi {
  constructor(
    private readonly state: NodeState,
    private readonly client: GobgpClient,
    private readonly log: Logger,
  ) {}

  setBgpGlobal(cfg: BgpGlobalConfig): Promise<void> {
    return this.state.setBgpGlobal(cfg);
  }

  addBgpNeighbor(n: BgpNeighborConfig): Promise<void> {
    return this.state.addBgpNeighbor(n);
  }

  deleteBgpNeighbor(ip: string): Promise<void> {
    return this.state.deleteBgpNeighbor(ip);
  }

  async listBgpNeighbors(): Promise<BgpNeighborStatus[]> {
    let peers: LivePeer[] = [];
    try {
      peers = await this.client.listPeers();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'gobgpd not answering ListPeer');
    }
    return bgpNeighborList(this.state.bgpConfig.neighbors.values(), peers, Date.now() / 1000);
  }
}

/** No --bgp / --peer: every BGP call is refused. */
export const disabledBgpApi: BgpApi = {
  setBgpGlobal: refuse,
  addBgpNeighbor: refuse,
  deleteBgpNeighbor: refuse,
  listBgpNeighbors: refuse,
};

async function refuse(): Promise<never> {
  throw new ForbiddenError(BGP_DISABLED_TEXT);
}
