// Original file: proto/gobgp_api.proto

import type { DefinedType as _apipb_DefinedType, DefinedType__Output as _apipb_DefinedType__Output } from '../apipb/DefinedType.ts';
import type { Prefix as _apipb_Prefix, Prefix__Output as _apipb_Prefix__Output } from '../apipb/Prefix.ts';

export interface DefinedSet {
  'defined_type'?: (_apipb_DefinedType);
  'name'?: (string);
  'list'?: (string)[];
  'prefixes'?: (_apipb_Prefix)[];
}

export interface DefinedSet__Output {
  'defined_type': (_apipb_DefinedType__Output);
  'name': (string);
  'list': (string)[];
  'prefixes': (_apipb_Prefix__Output)[];
}
