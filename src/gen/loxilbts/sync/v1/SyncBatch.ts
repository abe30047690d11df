// Original file: proto/loxilb_sync.proto

import type { Long } from '@grpc/proto-loader';

// Original file: proto/loxilb_sync.proto

export const _loxilbts_sync_v1_SyncBatch_Kind = {
  FULL: 'FULL',
  FULL_END: 'FULL_END',
  UPSERT: 'UPSERT',
  DELETE: 'DELETE',
} as const;

export type _loxilbts_sync_v1_SyncBatch_Kind =
  | 'FULL'
  | 0
  | 'FULL_END'
  | 1
  | 'UPSERT'
  | 2
  | 'DELETE'
  | 3

export type _loxilbts_sync_v1_SyncBatch_Kind__Output = typeof _loxilbts_sync_v1_SyncBatch_Kind[keyof typeof _loxilbts_sync_v1_SyncBatch_Kind]

export interface SyncBatch {
  'kind'?: (_loxilbts_sync_v1_SyncBatch_Kind);
  'count'?: (number);
  'keys'?: (Buffer | Uint8Array | string);
  'values'?: (Buffer | Uint8Array | string);
  'seq'?: (number | string | Long);
  'sent_unix_ms'?: (number | string | Long);
  'layout_version'?: (number);
  'node'?: (number);
}

export interface SyncBatch__Output {
  'kind': (_loxilbts_sync_v1_SyncBatch_Kind__Output);
  'count': (number);
  'keys': (Buffer);
  'values': (Buffer);
  'seq': (number);
  'sent_unix_ms': (number);
  'layout_version': (number);
  'node': (number);
}
