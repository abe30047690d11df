// Original file: proto/gobgp_api.proto

import type { PolicyAssignment as _apipb_PolicyAssignment, PolicyAssignment__Output as _apipb_PolicyAssignment__Output } from '../apipb/PolicyAssignment.ts';

export interface ListPolicyAssignmentResponse {
  'assignment'?: (_apipb_PolicyAssignment | null);
}

export interface ListPolicyAssignmentResponse__Output {
  'assignment': (_apipb_PolicyAssignment__Output | null);
}
