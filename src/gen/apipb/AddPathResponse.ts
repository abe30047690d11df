// Original file: proto/gobgp_api.proto


export interface AddPathResponse {
  'uuid'?: (Buffer | Uint8Array | string);
}

export interface AddPathResponse__Output {
  'uuid': (Buffer);
}
