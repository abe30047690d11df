// Original file: proto/gobgp_api.proto


export interface OriginAttribute {
  'origin'?: (number);
}

export interface OriginAttribute__Output {
  'origin': (number);
}
