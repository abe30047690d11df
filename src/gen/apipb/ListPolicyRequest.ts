// Original file: proto/gobgp_api.proto


export interface ListPolicyRequest {
  'name'?: (string);
}

export interface ListPolicyRequest__Output {
  'name': (string);
}
