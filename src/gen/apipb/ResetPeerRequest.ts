// Original file: proto/gobgp_api.proto


// Original file: proto/gobgp_api.proto

export const _apipb_ResetPeerRequest_SoftResetDirection = {
  IN: 'IN',
  OUT: 'OUT',
  BOTH: 'BOTH',
} as const;

export type _apipb_ResetPeerRequest_SoftResetDirection =
  | 'IN'
  | 0
  | 'OUT'
  | 1
  | 'BOTH'
  | 2

export type _apipb_ResetPeerRequest_SoftResetDirection__Output = typeof _apipb_ResetPeerRequest_SoftResetDirection[keyof typeof _apipb_ResetPeerRequest_SoftResetDirection]

export interface ResetPeerRequest {
  'address'?: (string);
  'communication'?: (string);
  'soft'?: (boolean);
  'direction'?: (_apipb_ResetPeerRequest_SoftResetDirection);
}

export interface ResetPeerRequest__Output {
  'address': (string);
  'communication': (string);
  'soft': (boolean);
  'direction': (_apipb_ResetPeerRequest_SoftResetDirection__Output);
}
