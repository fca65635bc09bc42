// The Admin service's wire form (proto/admin.proto): its definition and messages as grpc-js has them.

import * as grpc from '@grpc/grpc-js';
import { loadProtoFile } from './proto_loader';

export function adminService(): grpc.ServiceClientConstructor {
  const tree = loadProtoFile('admin.proto');
  const pkg = ((tree.raftsigner as grpc.GrpcObject).admin as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return pkg.Admin as grpc.ServiceClientConstructor;
}

export interface WireImportState {
  chainId: string;
  pubKey: Buffer;
  height: string;
  round: number;
  step: number;
  signBytes: Buffer;
  signature: Buffer;
}

/** A ChainState answer: the record as an import carries it (without the chain), and where it was read. */
export type WireChainState = Omit<WireImportState, 'chainId'> & { found: boolean; appliedIndex: string; readIndex: string };

export interface WireMembership {
  changed: boolean;
  index: string;
  voters: string[];
  learners: string[];
  leader: string;
  message: string;
}

export interface WireStatus {
  id: string;
  storeId: string;
  storeNamed: boolean;
  role: string;
  term: string;
  leader: string;
  commitIndex: string;
  appliedIndex: string;
  lastIndex: string;
  snapshotIndex: string;
  voters: string[];
  learners: string[];
  learner: boolean;
  progress: { id: string; match: string; next: string; state: string; recentActive: boolean; learner: boolean }[];
  peers: { id: string; address: string; connected: boolean; lastError: string }[];
  chains: { chainId: string; pubKey: Buffer; height: string; round: number; step: number }[];
}
