// Original file: proto/gobgp_api.proto


export interface LocalPrefAction {
  'value'?: (number);
}

export interface LocalPrefAction__Output {
  'value': (number);
}
