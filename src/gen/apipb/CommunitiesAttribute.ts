// Original file: proto/gobgp_api.proto


export interface CommunitiesAttribute {
  'communities'?: (number)[];
}

export interface CommunitiesAttribute__Output {
  'communities': (number)[];
}
