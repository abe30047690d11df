// Original file: proto/gobgp_api.proto

import type { Policy as _apipb_Policy, Policy__Output as _apipb_Policy__Output } from '../apipb/Policy.ts';

export interface AddPolicyRequest {
  'policy'?: (_apipb_Policy | null);
  'refer_existing_statements'?: (boolean);
}

export interface AddPolicyRequest__Output {
  'policy': (_apipb_Policy__Output | null);
  'refer_existing_statements': (boolean);
}
