// What a client of the cluster (the CLI, the process harness) needs to talk to it through a node's
// home: its configuration and its certificate, the credentials for each member, and readable gRPC
// errors.

import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ConfigError, loadNodeConfig, NodeConfig } from '../config/node_config';
import { clusterChannelCredentials, TlsPem } from '../transport/grpc_server';

export interface ClusterClient {
  config: NodeConfig;
  credentialsFor(nodeId: string): grpc.ChannelCredentials;
}

export function clusterClient(home: string): ClusterClient {
  const config = loadNodeConfig(home);
  const read = (file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      // A TLS file config.yaml names: a config problem, and the message names the file.
      throw new ConfigError(file, [`cannot read ${file}: ${(e as Error).message}`]);
    }
  };
  const tls: TlsPem = { ca: read(config.tls.ca), cert: read(config.tls.cert), key: read(config.tls.key) };
  return { config, credentialsFor: (nodeId) => clusterChannelCredentials(tls, nodeId) };
}

/** gRPC's `details` is the readable part ("No connection established ..."), without the resolver's note. */
export function grpcErrorText(e: unknown): string {
  const err = e as Error & { details?: string };
  return (err.details || err.message).replace(/\. Resolution note:.*$/s, '');
}

/** Whether a gRPC error says "not here, ask the leader" (FAILED_PRECONDITION). */
export function isNotLeaderError(e: unknown): boolean {
  return (e as { code?: number }).code === grpc.status.FAILED_PRECONDITION;
}
