// Original file: proto/gobgp_api.proto


export interface LocalPrefAttribute {
  'local_pref'?: (number);
}

export interface LocalPrefAttribute__Output {
  'local_pref': (number);
}
