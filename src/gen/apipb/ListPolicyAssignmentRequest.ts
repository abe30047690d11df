// Original file: proto/gobgp_api.proto

import type { PolicyDirection as _apipb_PolicyDirection, PolicyDirection__Output as _apipb_PolicyDirection__Output } from '../apipb/PolicyDirection.ts';

export interface ListPolicyAssignmentRequest {
  'name'?: (string);
  'direction'?: (_apipb_PolicyDirection);
}

export interface ListPolicyAssignmentRequest__Output {
  'name': (string);
  'direction': (_apipb_PolicyDirection__Output);
}
