// Original file: proto/loxilb_sync.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { SubscribeRequest as _loxilbts_sync_v1_SubscribeRequest, SubscribeRequest__Output as _loxilbts_sync_v1_SubscribeRequest__Output } from '../../../loxilbts/sync/v1/SubscribeRequest.ts';
import type { SyncBatch as _loxilbts_sync_v1_SyncBatch, SyncBatch__Output as _loxilbts_sync_v1_SyncBatch__Output } from '../../../loxilbts/sync/v1/SyncBatch.ts';

export interface ConnSyncClient extends grpc.Client {
  Subscribe(argument: _loxilbts_sync_v1_SubscribeRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_loxilbts_sync_v1_SyncBatch__Output>;
  Subscribe(argument: _loxilbts_sync_v1_SubscribeRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_loxilbts_sync_v1_SyncBatch__Output>;
  subscribe(argument: _loxilbts_sync_v1_SubscribeRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_loxilbts_sync_v1_SyncBatch__Output>;
  subscribe(argument: _loxilbts_sync_v1_SubscribeRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_loxilbts_sync_v1_SyncBatch__Output>;
  
}

export interface ConnSyncHandlers extends grpc.UntypedServiceImplementation {
  Subscribe: grpc.handleServerStreamingCall<_loxilbts_sync_v1_SubscribeRequest__Output, _loxilbts_sync_v1_SyncBatch>;
  
}

export interface ConnSyncDefinition extends grpc.ServiceDefinition {
  Subscribe: MethodDefinition<_loxilbts_sync_v1_SubscribeRequest, _loxilbts_sync_v1_SyncBatch, _loxilbts_sync_v1_SubscribeRequest__Output, _loxilbts_sync_v1_SyncBatch__Output>
}
