// proto/gobgp_api.proto, loaded once: GobgpClient builds its gRPC client from
// it and pathCodec packs and unpacks the Any-wrapped attributes with its
// message types. The generated types (src/gen/, npm run gen:proto) describe
// the objects its service definition reads and writes.
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../util/grpcProto.ts';
import type { ProtoGrpcType } from '../gen/gobgp_api.ts';

export const gobgpProto = loadProto('gobgp_api.proto');

/** Package apipb: the GobgpApi client constructor (and its service definition). */
export const apipb = (grpc.loadPackageDefinition(gobgpProto.packageDefinition) as unknown as ProtoGrpcType).apipb;
