// Original file: proto/gobgp_api.proto

import type { PeerConf as _apipb_PeerConf, PeerConf__Output as _apipb_PeerConf__Output } from '../apipb/PeerConf.ts';
import type { EbgpMultihop as _apipb_EbgpMultihop, EbgpMultihop__Output as _apipb_EbgpMultihop__Output } from '../apipb/EbgpMultihop.ts';
import type { PeerState as _apipb_PeerState, PeerState__Output as _apipb_PeerState__Output } from '../apipb/PeerState.ts';
import type { Timers as _apipb_Timers, Timers__Output as _apipb_Timers__Output } from '../apipb/Timers.ts';
import type { Transport as _apipb_Transport, Transport__Output as _apipb_Transport__Output } from '../apipb/Transport.ts';
import type { AfiSafi as _apipb_AfiSafi, AfiSafi__Output as _apipb_AfiSafi__Output } from '../apipb/AfiSafi.ts';

export interface Peer {
  'conf'?: (_apipb_PeerConf | null);
  'ebgp_multihop'?: (_apipb_EbgpMultihop | null);
  'state'?: (_apipb_PeerState | null);
  'timers'?: (_apipb_Timers | null);
  'transport'?: (_apipb_Transport | null);
  'afi_safis'?: (_apipb_AfiSafi)[];
}

export interface Peer__Output {
  'conf': (_apipb_PeerConf__Output | null);
  'ebgp_multihop': (_apipb_EbgpMultihop__Output | null);
  'state': (_apipb_PeerState__Output | null);
  'timers': (_apipb_Timers__Output | null);
  'transport': (_apipb_Transport__Output | null);
  'afi_safis': (_apipb_AfiSafi__Output)[];
}
