import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ConnSyncClient as _loxilbts_sync_v1_ConnSyncClient, ConnSyncDefinition as _loxilbts_sync_v1_ConnSyncDefinition } from './loxilbts/sync/v1/ConnSync.ts';
import type { SubscribeRequest as _loxilbts_sync_v1_SubscribeRequest, SubscribeRequest__Output as _loxilbts_sync_v1_SubscribeRequest__Output } from './loxilbts/sync/v1/SubscribeRequest.ts';
import type { SyncBatch as _loxilbts_sync_v1_SyncBatch, SyncBatch__Output as _loxilbts_sync_v1_SyncBatch__Output } from './loxilbts/sync/v1/SyncBatch.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  loxilbts: {
    sync: {
      v1: {
        ConnSync: SubtypeConstructor<typeof grpc.Client, _loxilbts_sync_v1_ConnSyncClient> & { service: _loxilbts_sync_v1_ConnSyncDefinition }
        SubscribeRequest: MessageTypeDefinition<_loxilbts_sync_v1_SubscribeRequest, _loxilbts_sync_v1_SubscribeRequest__Output>
        SyncBatch: MessageTypeDefinition<_loxilbts_sync_v1_SyncBatch, _loxilbts_sync_v1_SyncBatch__Output>
      }
    }
  }
}

