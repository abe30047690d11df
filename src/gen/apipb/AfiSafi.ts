// Original file: proto/gobgp_api.proto

import type { AfiSafiConfig as _apipb_AfiSafiConfig, AfiSafiConfig__Output as _apipb_AfiSafiConfig__Output } from '../apipb/AfiSafiConfig.ts';
import type { AfiSafiState as _apipb_AfiSafiState, AfiSafiState__Output as _apipb_AfiSafiState__Output } from '../apipb/AfiSafiState.ts';

export interface AfiSafi {
  'config'?: (_apipb_AfiSafiConfig | null);
  'state'?: (_apipb_AfiSafiState | null);
}

export interface AfiSafi__Output {
  'config': (_apipb_AfiSafiConfig__Output | null);
  'state': (_apipb_AfiSafiState__Output | null);
}
