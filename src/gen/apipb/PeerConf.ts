// Original file: proto/gobgp_api.proto

import type { PeerType as _apipb_PeerType, PeerType__Output as _apipb_PeerType__Output } from '../apipb/PeerType.ts';

export interface PeerConf {
  'auth_password'?: (string);
  'description'?: (string);
  'local_asn'?: (number);
  'neighbor_address'?: (string);
  'peer_asn'?: (number);
  'type'?: (_apipb_PeerType);
  'allow_own_asn'?: (number);
  'admin_down'?: (boolean);
}

export interface PeerConf__Output {
  'auth_password': (string);
  'description': (string);
  'local_asn': (number);
  'neighbor_address': (string);
  'peer_asn': (number);
  'type': (_apipb_PeerType__Output);
  'allow_own_asn': (number);
  'admin_down': (boolean);
}
