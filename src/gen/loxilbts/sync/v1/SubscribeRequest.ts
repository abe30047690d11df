// Original file: proto/loxilb_sync.proto


export interface SubscribeRequest {
  'node'?: (number);
  'layout_version'?: (number);
}

export interface SubscribeRequest__Output {
  'node': (number);
  'layout_version': (number);
}
