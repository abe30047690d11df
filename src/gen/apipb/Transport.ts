// Original file: proto/gobgp_api.proto


export interface Transport {
  'local_address'?: (string);
  'local_port'?: (number);
  'passive_mode'?: (boolean);
  'remote_address'?: (string);
  'remote_port'?: (number);
}

export interface Transport__Output {
  'local_address': (string);
  'local_port': (number);
  'passive_mode': (boolean);
  'remote_address': (string);
  'remote_port': (number);
}
