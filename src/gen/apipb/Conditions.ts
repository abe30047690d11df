// Original file: proto/gobgp_api.proto

import type { MatchSet as _apipb_MatchSet, MatchSet__Output as _apipb_MatchSet__Output } from '../apipb/MatchSet.ts';

export interface Conditions {
  'prefix_set'?: (_apipb_MatchSet | null);
  'neighbor_set'?: (_apipb_MatchSet | null);
}

export interface Conditions__Output {
  'prefix_set': (_apipb_MatchSet__Output | null);
  'neighbor_set': (_apipb_MatchSet__Output | null);
}
