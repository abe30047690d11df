// Original file: proto/gobgp_api.proto


export interface DeletePeerRequest {
  'address'?: (string);
  'interface'?: (string);
}

export interface DeletePeerRequest__Output {
  'address': (string);
  'interface': (string);
}
