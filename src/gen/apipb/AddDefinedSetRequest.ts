// Original file: proto/gobgp_api.proto

import type { DefinedSet as _apipb_DefinedSet, DefinedSet__Output as _apipb_DefinedSet__Output } from '../apipb/DefinedSet.ts';

export interface AddDefinedSetRequest {
  'defined_set'?: (_apipb_DefinedSet | null);
}

export interface AddDefinedSetRequest__Output {
  'defined_set': (_apipb_DefinedSet__Output | null);
}
