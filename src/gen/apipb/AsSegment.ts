// Original file: proto/gobgp_api.proto


// Original file: proto/gobgp_api.proto

export const _apipb_AsSegment_Type = {
  UNKNOWN: 'UNKNOWN',
  AS_SET: 'AS_SET',
  AS_SEQUENCE: 'AS_SEQUENCE',
} as const;

export type _apipb_AsSegment_Type =
  | 'UNKNOWN'
  | 0
  | 'AS_SET'
  | 1
  | 'AS_SEQUENCE'
  | 2

export type _apipb_AsSegment_Type__Output = typeof _apipb_AsSegment_Type[keyof typeof _apipb_AsSegment_Type]

export interface AsSegment {
  'type'?: (_apipb_AsSegment_Type);
  'numbers'?: (number)[];
}

export interface AsSegment__Output {
  'type': (_apipb_AsSegment_Type__Output);
  'numbers': (number)[];
}
