// Original file: proto/gobgp_api.proto


export interface GetBgpRequest {
}

export interface GetBgpRequest__Output {
}
