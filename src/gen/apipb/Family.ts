// Original file: proto/gobgp_api.proto


// Original file: proto/gobgp_api.proto

export const _apipb_Family_Afi = {
  AFI_UNKNOWN: 'AFI_UNKNOWN',
  AFI_IP: 'AFI_IP',
  AFI_IP6: 'AFI_IP6',
} as const;

export type _apipb_Family_Afi =
  | 'AFI_UNKNOWN'
  | 0
  | 'AFI_IP'
  | 1
  | 'AFI_IP6'
  | 2

export type _apipb_Family_Afi__Output = typeof _apipb_Family_Afi[keyof typeof _apipb_Family_Afi]

// Original file: proto/gobgp_api.proto

export const _apipb_Family_Safi = {
  SAFI_UNKNOWN: 'SAFI_UNKNOWN',
  SAFI_UNICAST: 'SAFI_UNICAST',
} as const;

export type _apipb_Family_Safi =
  | 'SAFI_UNKNOWN'
  | 0
  | 'SAFI_UNICAST'
  | 1

export type _apipb_Family_Safi__Output = typeof _apipb_Family_Safi[keyof typeof _apipb_Family_Safi]

export interface Family {
  'afi'?: (_apipb_Family_Afi);
  'safi'?: (_apipb_Family_Safi);
}

export interface Family__Output {
  'afi': (_apipb_Family_Afi__Output);
  'safi': (_apipb_Family_Safi__Output);
}
