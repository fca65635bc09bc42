// Loads the .proto files with @grpc/proto-loader. The proto directory is found relative to this
// file (src/transport under ts-jest, dist/transport after tsc: both are two levels below the
// repository root, where proto/ lives), so it works from either without configuration.

import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');

/**
 * uint64 as decimal strings (never lossy; the codec validates and converts them), enums as their
 * numbers (equal to the TypeScript enums), bytes as Buffers, and every field present with its
 * default so that decoders need no presence checks except for message fields (null when absent).
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  oneofs: false,
  includeDirs: [PROTO_DIR],
};

const loaded = new Map<string, grpc.GrpcObject>();

/** Loads `proto/<fileName>` once per process and returns its grpc object tree. */
export function loadProtoFile(fileName: string): grpc.GrpcObject {
  let tree = loaded.get(fileName);
  if (!tree) {
    const definition = protoLoader.loadSync(path.join(PROTO_DIR, fileName), PROTO_LOADER_OPTIONS);
    tree = grpc.loadPackageDefinition(definition);
    loaded.set(fileName, tree);
  }
  return tree;
}

export const RAFT_SERVICE_NAME = 'raftsigner.raft.v1.Raft';
export const RAFT_STREAM_PATH = `/${RAFT_SERVICE_NAME}/Stream`;

/** The Raft service definition (proto-loader serializers), for `server.addService`. */
export function raftServiceDefinition(): grpc.ServiceDefinition {
  const tree = loadProtoFile('raft.proto');
  const pkg = ((tree.raftsigner as grpc.GrpcObject).raft as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const service = pkg.Raft as grpc.ServiceClientConstructor;
  return service.service;
}
