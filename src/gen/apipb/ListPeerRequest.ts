// Original file: proto/gobgp_api.proto


export interface ListPeerRequest {
  'address'?: (string);
  'enableAdvertised'?: (boolean);
}

export interface ListPeerRequest__Output {
  'address': (string);
  'enableAdvertised': (boolean);
}
