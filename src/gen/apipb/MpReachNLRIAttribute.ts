// Original file: proto/gobgp_api.proto

import type { Family as _apipb_Family, Family__Output as _apipb_Family__Output } from '../apipb/Family.ts';
import type { Any as _google_protobuf_Any, Any__Output as _google_protobuf_Any__Output } from '../google/protobuf/Any.ts';

export interface MpReachNLRIAttribute {
  'family'?: (_apipb_Family | null);
  'next_hops'?: (string)[];
  'nlris'?: (_google_protobuf_Any)[];
}

export interface MpReachNLRIAttribute__Output {
  'family': (_apipb_Family__Output | null);
  'next_hops': (string)[];
  'nlris': (_google_protobuf_Any__Output)[];
}
