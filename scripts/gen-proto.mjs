// Regenerates the TypeScript types of proto/*.proto into src/gen/ (or the
// directory given as the first argument, which the unit test uses to check
// that the committed output is current). The flags mirror PROTO_LOADER_OPTIONS
// in src/util/grpcProto.ts: the types describe what the loader hands us only
// if both agree.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.resolve(root, process.argv[2] ?? 'src/gen');
const protos = readdirSync(path.join(root, 'proto')).filter((f) => f.endsWith('.proto')).sort();
// Files of a message since removed from a proto must not linger.
rmSync(outDir, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    path.join(root, 'node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js'),
    '--keepCase',
    '--longs=Number',
    '--enums=String',
    '--defaults',
    '--oneofs',
    '--grpcLib=@grpc/grpc-js',
    '--importFileExtension=.ts',
    '-I',
    'proto',
    '-O',
    outDir,
    ...protos,
  ],
  { cwd: root, stdio: 'inherit' },
);
