// proto/loxilb_sync.proto, loaded once for the sync service, its clients and
// the test peers; the types are generated from it (src/gen/, npm run gen:proto).
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../util/grpcProto.ts';
import type { ProtoGrpcType } from '../gen/loxilb_sync.ts';

export type { ConnSyncClient, ConnSyncHandlers } from '../gen/loxilbts/sync/v1/ConnSync.ts';
export type { SubscribeRequest, SubscribeRequest__Output } from '../gen/loxilbts/sync/v1/SubscribeRequest.ts';
export type { SyncBatch, SyncBatch__Output } from '../gen/loxilbts/sync/v1/SyncBatch.ts';

/** Package loxilbts.sync.v1: the ConnSync client constructor and its service definition. */
export const syncV1 = (grpc.loadPackageDefinition(loadProto('loxilb_sync.proto').packageDefinition) as unknown as ProtoGrpcType).loxilbts.sync.v1;
