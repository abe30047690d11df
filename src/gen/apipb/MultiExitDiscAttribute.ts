// Original file: proto/gobgp_api.proto


export interface MultiExitDiscAttribute {
  'med'?: (number);
}

export interface MultiExitDiscAttribute__Output {
  'med': (number);
}
