// Original file: proto/gobgp_api.proto

import type { Peer as _apipb_Peer, Peer__Output as _apipb_Peer__Output } from '../apipb/Peer.ts';

export interface ListPeerResponse {
  'peer'?: (_apipb_Peer | null);
}

export interface ListPeerResponse__Output {
  'peer': (_apipb_Peer__Output | null);
}
