// Original file: proto/gobgp_api.proto

import type { Family as _apipb_Family, Family__Output as _apipb_Family__Output } from '../apipb/Family.ts';
import type { Long } from '@grpc/proto-loader';

export interface AfiSafiState {
  'family'?: (_apipb_Family | null);
  'enabled'?: (boolean);
  'received'?: (number | string | Long);
  'accepted'?: (number | string | Long);
  'advertised'?: (number | string | Long);
}

export interface AfiSafiState__Output {
  'family': (_apipb_Family__Output | null);
  'enabled': (boolean);
  'received': (number);
  'accepted': (number);
  'advertised': (number);
}
