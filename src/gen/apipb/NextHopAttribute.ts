// Original file: proto/gobgp_api.proto


export interface NextHopAttribute {
  'next_hop'?: (string);
}

export interface NextHopAttribute__Output {
  'next_hop': (string);
}
