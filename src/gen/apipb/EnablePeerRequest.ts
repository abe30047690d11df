// Original file: proto/gobgp_api.proto


export interface EnablePeerRequest {
  'address'?: (string);
}

export interface EnablePeerRequest__Output {
  'address': (string);
}
