// Loads a .proto of proto/ once, for both of its users: grpc-js (the service
// definition its clients and servers are built from) and protobufjs (the
// message types, for google.protobuf.Any payloads the gRPC layer leaves
// packed). The loader options are the ones scripts/gen-proto.mjs gives
// proto-loader-gen-types, so the types in src/gen/ describe exactly the
// objects grpc-js hands over and accepts.
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export interface LoadedProto {
  file: string;
  /** The parsed file (with the google.protobuf types it imports), resolved. */
  root: protobuf.Root;
  /** The same definitions in grpc-js's form. */
  packageDefinition: protoLoader.PackageDefinition;
}

/** `name` is a file of proto/, e.g. "gobgp_api.proto". */
export function loadProto(name: string): LoadedProto {
  const file = fileURLToPath(new URL(`../../proto/${name}`, import.meta.url));
  const root = new protobuf.Root();
  // google/protobuf/*.proto come bundled with protobufjs, not from proto/.
  root.resolvePath = (origin, target) => (target.startsWith('google/protobuf/') ? target : protobuf.util.path.resolve(origin, target));
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  // Built from the parsed root, not by parsing the file a second time.
  return { file, root, packageDefinition: protoLoader.fromJSON(root.toJSON(), PROTO_LOADER_OPTIONS) };
}
