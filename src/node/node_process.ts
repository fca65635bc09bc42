// One raft-signer node as a process: config, store, gRPC server with the Raft transport and the
// Admin service, and the driver; plus a graceful stop that hands leadership over first.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadNodeConfig, NodeConfig } from '../config/node_config';
import { createLogger, Logger, LogLevel } from '../log/logger';
import { NodeId, ProgressStatus, Role } from '../raft/types';
import { ProposalRefusedError } from '../raft/errors';
import { RaftStorage } from '../storage/raft_storage';
import {
  bindSharedServer,
  clusterChannelCredentials,
  createSharedServer,
  serverCredentials,
  stopSharedServer,
  TlsPem,
} from '../transport/grpc_server';
import { RaftTransport } from '../transport/raft_transport';
import { loadValidatorKeyFile } from '../keys/encrypted_key_file';
import { ValidatorKey } from '../keys/validator_key';
import { KeyRing } from '../signer/key_ring';
import { SignCoordinator } from '../signer/sign_coordinator';
import { SignerStateMachine } from '../signer/signer_state_machine';
import { addSignerService, GrpcLeaderForwarder } from '../signer/signer_service';
import { AdminBackend, addAdminService, NotLeaderAdminError, statusView } from './admin_service';
import { RaftNode } from './raft_node';
import { PrivvalDialers, startPrivvalDialers } from '../privval/privval_dialer';
import { loadOrCreateSignerIdentity } from '../privval/signer_identity';

export interface RunningNode {
  config: NodeConfig;
  node: RaftNode;
  privval: PrivvalDialers;
  machine: SignerStateMachine;
  coordinator: SignCoordinator;
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

/** Loads every configured chain's key (decrypting where needed); refuses unsafe key files. */
export async function loadKeyRing(config: NodeConfig): Promise<KeyRing> {
  const keys: [string, ValidatorKey][] = [];
  for (const chain of config.chains) {
    const passphrase = chain.passphraseEnv
      ? { env: chain.passphraseEnv }
      : chain.passphraseFile
        ? { file: chain.passphraseFile }
        : undefined;
    keys.push([chain.chainId, await loadValidatorKeyFile(chain.keyFile, { passphrase })]);
  }
  return new KeyRing(keys);
}

export async function startNodeProcess(home: string, options: { logLevel?: LogLevel; json?: boolean } = {}): Promise<RunningNode> {
  const config = loadNodeConfig(home);
  const logger = createLogger({ level: options.logLevel ?? config.logLevel, json: options.json, defaultMeta: { node: config.id } });
  const tls = readTls(config);
  const keys = await loadKeyRing(config);
  const signerIdentity = loadOrCreateSignerIdentity(config.home);
  const storage = await RaftStorage.open(config.dataDir, { nodeId: config.id, clusterId: clusterIdOf(tls.ca) });
  let machine: SignerStateMachine;
  try {
    machine = await SignerStateMachine.load(storage.load().stateMachine, keys, logger);
  } catch (e) {
    await storage.close();
    throw e;
  }
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
    machine,
    machineApplied: machine.applied,
    timing: config.raft,
    logger,
  });
  node = created;
  const peerAddress = new Map(config.peers.map((p) => [p.id, p.address]));
  const forwarder = new GrpcLeaderForwarder(
    (id) => peerAddress.get(id) ?? null,
    (id) => clusterChannelCredentials(tls, id, 'node'),
  );
  const coordinator = new SignCoordinator({
    node: created,
    machine,
    keys,
    forwarder,
    deadlineMs: config.signing.deadlineMs,
    logger,
  });
  addSignerService(server, {
    coordinator,
    members: () => {
      const cs = created.status().confState;
      return [...cs.voters, ...cs.learners];
    },
    logger,
  });
  addAdminService(server, adminBackend(created, machine, coordinator, transport));
  try {
    await bindSharedServer(server, config.listen, serverCredentials(tls));
  } catch (e) {
    transport.close();
    await storage.close();
    throw new Error(`cannot listen on ${config.listen}: ${(e as Error).message}`);
  }
  created.start();
  logger.info('node started', { listen: config.listen, peers: config.peers.map((p) => p.id), dataDir: config.dataDir });
  // Dial the validator node(s) only once the node runs: their requests go through the sign path.
  const privval = startPrivvalDialers({
    targets: config.chains.flatMap((c) => c.validatorAddrs.map((address) => ({ chainId: c.chainId, address }))),
    signPath: coordinator,
    identity: signerIdentity.identity,
    logger,
  });
  if (signerIdentity.created) logger.info('created the privval identity key', { file: signerIdentity.path, nodeId: signerIdentity.identity.nodeId });

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await privval.close();
      await handOverLeadership(created, config, logger);
      await created.stop();
      forwarder.close();
      transport.close();
      await stopSharedServer(server as grpc.Server, 500);
      await storage.close();
      logger.info('node stopped');
    })();
    return stopping;
  };
  return { config, node: created, privval, machine, coordinator, logger, stop };
}

function adminBackend(node: RaftNode, machine: SignerStateMachine, coordinator: SignCoordinator, transport: RaftTransport): AdminBackend {
  return {
    status: () =>
      statusView(
        node.status(),
        transport.peerStatus(),
        machine.allRecords().map((r) => ({
          chainId: r.chainId,
          pubKey: Buffer.from(r.pubKey).toString('hex'),
          height: r.record.height.toString(),
          round: r.record.round,
          step: r.record.step,
        })),
      ),
    importState: async (req) => {
      try {
        const out = await coordinator.importState({
          chainId: req.chainId,
          pubKey: req.pubKey,
          record: { height: req.height, round: req.round, step: req.step as 0 | 1 | 2 | 3, signBytes: req.signBytes, signature: req.signature },
        });
        return { imported: out.kind === 'imported', message: out.message, index: out.index };
      } catch (e) {
        if (e instanceof ProposalRefusedError) throw new NotLeaderAdminError(node.id, node.status().leader);
        throw e;
      }
    },
    chainState: (chainId) => {
      const key = coordinator.publicKeyFor(chainId);
      const rec = key ? machine.recordOf(chainId, key) : null;
      if (!key || !rec) return null;
      return { pubKey: key, ...rec.record, appliedIndex: node.appliedDurably() };
    },
  };
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
