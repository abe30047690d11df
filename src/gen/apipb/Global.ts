// Original file: proto/gobgp_api.proto


export interface Global {
  'asn'?: (number);
  'router_id'?: (string);
  'listen_port'?: (number);
  'listen_addresses'?: (string)[];
  'families'?: (number)[];
  'use_multiple_paths'?: (boolean);
}

export interface Global__Output {
  'asn': (number);
  'router_id': (string);
  'listen_port': (number);
  'listen_addresses': (string)[];
  'families': (number)[];
  'use_multiple_paths': (boolean);
}
