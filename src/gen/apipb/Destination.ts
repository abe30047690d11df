// Original file: proto/gobgp_api.proto

import type { Path as _apipb_Path, Path__Output as _apipb_Path__Output } from '../apipb/Path.ts';

export interface Destination {
  'prefix'?: (string);
  'paths'?: (_apipb_Path)[];
}

export interface Destination__Output {
  'prefix': (string);
  'paths': (_apipb_Path__Output)[];
}
