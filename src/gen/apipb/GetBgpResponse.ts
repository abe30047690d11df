// Original file: proto/gobgp_api.proto

import type { Global as _apipb_Global, Global__Output as _apipb_Global__Output } from '../apipb/Global.ts';

export interface GetBgpResponse {
  'global'?: (_apipb_Global | null);
}

export interface GetBgpResponse__Output {
  'global': (_apipb_Global__Output | null);
}
