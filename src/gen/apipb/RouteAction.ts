// Original file: proto/gobgp_api.proto

export const RouteAction = {
  NONE: 'NONE',
  ACCEPT: 'ACCEPT',
  REJECT: 'REJECT',
} as const;

export type RouteAction =
  | 'NONE'
  | 0
  | 'ACCEPT'
  | 1
  | 'REJECT'
  | 2

export type RouteAction__Output = typeof RouteAction[keyof typeof RouteAction]
