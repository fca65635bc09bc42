// One raft-signer node as a process: config, store, gRPC server with the Raft transport and the
// Admin service, and the driver; plus a graceful stop that hands leadership over first.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadNodeConfig, NodeConfig } from '../config/node_config';
import { createLogger, Logger, LogLevel } from '../log/logger';
import { Entry, NodeId, ProgressStatus, Role } from '../raft/types';
import { RaftStorage, StateMachineOp } from '../storage/raft_storage';
import { bindSharedServer, createSharedServer, serverCredentials, stopSharedServer, TlsPem } from '../transport/grpc_server';
import { RaftTransport } from '../transport/raft_transport';
import { addAdminService, statusView } from './admin_service';
import { RaftNode, StateMachine } from './raft_node';

/**
 * Until the signing state machine exists, the replicated log carries only the cluster's own
 * entries (leader no-ops and membership changes), which leave no state-machine records.
 */
class EmptyStateMachine implements StateMachine {
  apply(_entries: Entry[]): StateMachineOp[] {
    return [];
  }
  restore(_data: Uint8Array): StateMachineOp[] {
    return [];
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
}

export interface RunningNode {
  config: NodeConfig;
  node: RaftNode;
  logger: Logger;
  /** Hands leadership to an up-to-date follower if this node leads, then stops everything. */
  stop(): Promise<void>;
}

/** A cluster's identity for its stores: derived from its CA, so a store from another cluster is refused. */
export function clusterIdOf(caPem: string): string {
  return createHash('sha256').update(caPem.trim()).digest('hex').slice(0, 16);
}

function readTls(config: NodeConfig): TlsPem {
  const read = (what: string, file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`cannot read the ${what} ${file}: ${(e as Error).message}`);
    }
  };
  return { ca: read('cluster CA certificate', config.tls.ca), cert: read('node certificate', config.tls.cert), key: read('node key', config.tls.key) };
}

export async function startNodeProcess(home: string, options: { logLevel?: LogLevel; json?: boolean } = {}): Promise<RunningNode> {
  const config = loadNodeConfig(home);
  const logger = createLogger({ level: options.logLevel ?? config.logLevel, json: options.json, defaultMeta: { node: config.id } });
  const tls = readTls(config);
  const storage = await RaftStorage.open(config.dataDir, { nodeId: config.id, clusterId: clusterIdOf(tls.ca) });
  const server = createSharedServer();
  let node: RaftNode | null = null;
  const transport = new RaftTransport({
    selfId: config.id,
    peers: config.peers.filter((p) => p.id !== config.id),
    tls,
    server,
    logger,
    onMessage: (m) => node?.receive(m),
    onPeerUnreachable: (peer) => node?.reportUnreachable(peer),
  });
  const created = await RaftNode.create({
    id: config.id,
    founders: config.peers.map((p) => p.id),
    join: config.join,
    storage,
    sender: transport,
    machine: new EmptyStateMachine(),
    machineApplied: storage.load().hardState.commit,
    timing: config.raft,
    logger,
  });
  node = created;
  addAdminService(server, () => statusView(created.status(), transport.peerStatus()));
  try {
    await bindSharedServer(server, config.listen, serverCredentials(tls));
  } catch (e) {
    transport.close();
    await storage.close();
    throw new Error(`cannot listen on ${config.listen}: ${(e as Error).message}`);
  }
  created.start();
  logger.info('node started', { listen: config.listen, peers: config.peers.map((p) => p.id), dataDir: config.dataDir });

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await handOverLeadership(created, config, logger);
      await created.stop();
      transport.close();
      await stopSharedServer(server as grpc.Server, 500);
      await storage.close();
      logger.info('node stopped');
    })();
    return stopping;
  };
  return { config, node: created, logger, stop };
}

/**
 * A leader that stops abruptly costs the cluster an election timeout with no signatures. So a
 * leader being stopped first transfers leadership to its most up-to-date live follower and waits
 * (at most two election timeouts) for it to take over.
 */
async function handOverLeadership(node: RaftNode, config: NodeConfig, logger: Logger): Promise<void> {
  const status = node.status();
  if (status.role !== Role.Leader) return;
  const candidates = status.progress
    .filter((p: ProgressStatus) => !p.isLearner && p.recentActive && status.confState.voters.includes(p.id))
    .sort((a, b) => b.match - a.match);
  const target: NodeId | undefined = candidates[0]?.id;
  if (!target) {
    logger.warn('stopping the leader with no live follower to hand over to');
    return;
  }
  logger.info(`handing leadership over to ${target} before stopping`);
  try {
    await node.transferLeadership(target);
  } catch (e) {
    logger.warn(`leadership transfer to ${target} refused: ${(e as Error).message}`);
    return;
  }
  const deadline = Date.now() + 2 * config.raft.electionTimeoutMs;
  while (Date.now() < deadline && node.status().role === Role.Leader) await new Promise((r) => setTimeout(r, 10));
  const after = node.status();
  if (after.role === Role.Leader) logger.warn(`${target} did not take over in time; stopping anyway`);
  else logger.info(`leadership handed over`, { leader: after.leader, term: after.term });
}
