// Original file: proto/gobgp_api.proto


export interface StopBgpRequest {
}

export interface StopBgpRequest__Output {
}
