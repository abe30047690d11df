// Original file: proto/gobgp_api.proto

import type { Peer as _apipb_Peer, Peer__Output as _apipb_Peer__Output } from '../apipb/Peer.ts';
import type { Path as _apipb_Path, Path__Output as _apipb_Path__Output } from '../apipb/Path.ts';

export interface _apipb_WatchEventResponse_PeerEvent {
  'type'?: (_apipb_WatchEventResponse_PeerEvent_Type);
  'peer'?: (_apipb_Peer | null);
}

export interface _apipb_WatchEventResponse_PeerEvent__Output {
  'type': (_apipb_WatchEventResponse_PeerEvent_Type__Output);
  'peer': (_apipb_Peer__Output | null);
}

export interface _apipb_WatchEventResponse_TableEvent {
  'paths'?: (_apipb_Path)[];
}

export interface _apipb_WatchEventResponse_TableEvent__Output {
  'paths': (_apipb_Path__Output)[];
}

// Original file: proto/gobgp_api.proto

export const _apipb_WatchEventResponse_PeerEvent_Type = {
  UNKNOWN: 'UNKNOWN',
  INIT: 'INIT',
  END_OF_INIT: 'END_OF_INIT',
  STATE: 'STATE',
} as const;

export type _apipb_WatchEventResponse_PeerEvent_Type =
  | 'UNKNOWN'
  | 0
  | 'INIT'
  | 1
  | 'END_OF_INIT'
  | 2
  | 'STATE'
  | 3

export type _apipb_WatchEventResponse_PeerEvent_Type__Output = typeof _apipb_WatchEventResponse_PeerEvent_Type[keyof typeof _apipb_WatchEventResponse_PeerEvent_Type]

export interface WatchEventResponse {
  'peer'?: (_apipb_WatchEventResponse_PeerEvent | null);
  'table'?: (_apipb_WatchEventResponse_TableEvent | null);
  'event'?: "peer"|"table";
}

export interface WatchEventResponse__Output {
  'peer'?: (_apipb_WatchEventResponse_PeerEvent__Output | null);
  'table'?: (_apipb_WatchEventResponse_TableEvent__Output | null);
  'event'?: "peer"|"table";
}
