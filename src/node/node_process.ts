// One raft-signer node as a process: config, store, gRPC server with the Raft transport, the
// Signer, Admin and health services, and the driver; the metrics and health HTTP endpoint; plus a
// graceful stop that hands leadership over first.
//
// The measurements come from outside the modules measured, so that none of them depends on
// metrics: the driver's writes are timed around the storage's persist, applies around the state
// machine, leader changes through the driver's role listener, contact with peers through the
// transport's onMessage, sign outcomes around the coordinator's sign, privval through the
// dialers' observer. See src/metrics/node_metrics.ts for the series.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { ConfigError, configFilePath, loadNodeConfig, NodeConfig } from '../config/node_config';
import { createLogger, Logger, LogLevel } from '../log/logger';
import { defaultHealthThresholds, evaluateHealth, HealthReport } from '../metrics/health';
import { NodeMetrics } from '../metrics/node_metrics';
import { Entry, NodeId, ProgressStatus, Role } from '../raft/types';
import { ProposalRefusedError } from '../raft/errors';
import { RaftStorage } from '../storage/raft_storage';
import {
  bindSharedServer,
  clusterChannelCredentials,
  createSharedServer,
  serverCredentials,
  stopSharedServer,
} from '../transport/grpc_server';
import { RaftTransport } from '../transport/raft_transport';
import { CallAuthorizer, Membership, revocationList } from '../transport/authorization';
import { loadValidatorKeyFile } from '../keys/encrypted_key_file';
import { ValidatorKey } from '../keys/validator_key';
import { KeyRing } from '../signer/key_ring';
import { SignerStateMachine } from '../signer/signer_state_machine';
import { addSignerService } from '../transport/signer_server';
import { GrpcLeaderForwarder } from '../transport/signer_client';
import { fetchNodeStatus } from '../transport/admin_client';
import { decorateAdminRefusal, NotLeaderAdminError } from '../transport/admin_errors';
import { addAdminService } from '../transport/admin_server';
import { AdminBackend, statusView } from '../transport/admin_views';
import { ClusterAdmin } from './cluster_admin';
import { chainStateAtLeader } from './leader_reads';
import { addGrpcHealthService } from './grpc_health_service';
import { NodeHttpServer, startNodeHttpServer } from './health_server';
import { MemberDirectory, MembershipSync } from './member_directory';
import { SignCoordinator } from './sign_coordinator';
import { RaftNode } from './raft_node';
import { StateMachine } from '../raft/state_machine';
import { hasNewClusterMarker, RejoinCommandContext, RejoinRequiredError, rejoinAsLearnerSteps, removeNewClusterMarker } from './new_cluster_marker';
import { BehindOwnPastError, decodeReportedMark, encodeReportedMark, PeerMarks } from './peer_marks';
import { decodeFounding, FoundingMembership, foundingDigest, gatherFounding } from './founding';
import { askFounding } from '../transport/founding_rpc';
import { readNodeTls } from './node_tls';
import { checkStoreHighWater, StoreHighWater, StoreHighWaterRecorder } from './store_high_water';
import { PrivvalDialers, startPrivvalDialers } from '../privval/privval_dialer';
import { loadOrCreateSignerIdentity } from '../privval/signer_identity';
import { sleep } from '../util/sleep';

export interface RunningNode {
  config: NodeConfig;
  node: RaftNode;
  privval: PrivvalDialers;
  machine: SignerStateMachine;
  coordinator: SignCoordinator;
  metrics: NodeMetrics;
  /** The metrics and health HTTP endpoint (host:port), or null when metrics.listen is not set. */
  httpAddress: string | null;
  /** Liveness and readiness now, as /healthz, /readyz and the gRPC health service report them. */
  health(): HealthReport;
  logger: Logger;
  /** Hands leadership to an up-to-date follower if this node leads, then stops everything. */
  stop(): Promise<void>;
}

export interface StartNodeOptions {
  logLevel?: LogLevel;
  json?: boolean;
  /**
   * Export Node.js process metrics too (default true). Several nodes in one process (tests) must
   * turn this off: those monitors are process-wide and cannot be removed.
   */
  processMetrics?: boolean;
  /**
   * This node founds a new cluster: bootstrap an empty store even without the marker `testnet`
   * writes (see new_cluster_marker.ts). Never for a node that lost its data.
   */
  newCluster?: boolean;
  /** Overrides config.yaml's metrics.listen (tests: '127.0.0.1:0'); null: no HTTP endpoint. */
  metricsListen?: string | null;
}

/**
 * How often the store high-water record is brought up to date: a copy of the data directory
 * older than this before the node stopped is refused at the next start.
 */
const HIGH_WATER_INTERVAL_MS = 500;

/** A cluster's identity for its stores: derived from its CA, so a store from another cluster is refused. */
export function clusterIdOf(caPem: string): string {
  return createHash('sha256').update(caPem.trim()).digest('hex').slice(0, 16);
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

export async function startNodeProcess(home: string, options: StartNodeOptions = {}): Promise<RunningNode> {
  const config = loadNodeConfig(home);
  const logger = createLogger({ level: options.logLevel ?? config.logLevel, json: options.json, defaultMeta: { node: config.id } });
  // Before anything else: this node's own certificate, and a key file only its owner can read.
  const tls = readNodeTls(config);
  const keys = await loadKeyRing(config);
  const signerIdentity = loadOrCreateSignerIdentity(config.home);
  const metrics = new NodeMetrics({ nodeId: config.id, version: safeVersion(), processMetrics: options.processMetrics ?? true });
  const storage = await RaftStorage.open(config.dataDir, { nodeId: config.id, clusterId: clusterIdOf(tls.ca) });
  timePersist(storage, metrics);
  const highWater = (): StoreHighWater => {
    const hs = storage.syncedHardState;
    const last = storage.syncedLast;
    return { storeId: storage.storeId, term: hs.term, vote: hs.vote, commit: hs.commit, lastIndex: last.index, lastTerm: last.term };
  };
  const otherPeers = config.peers.filter((p) => p.id !== config.id);
  const rejoin: RejoinCommandContext = {
    nodeId: config.id,
    home: config.home,
    address: config.peers.find((p) => p.id === config.id)?.address ?? config.listen,
    endpoints: otherPeers.map((p) => p.address),
  };
  let machine: SignerStateMachine;
  try {
    // Before anything else can happen: a data directory put back from an older copy must not vote.
    checkStoreHighWater({ home: config.home, rejoin, dataDir: config.dataDir, now: highWater(), logger });
    machine = await SignerStateMachine.load(storage.load().stateMachine, keys, logger);
  } catch (e) {
    await storage.close();
    throw e;
  }
  const directory = MemberDirectory.load({
    selfId: config.id,
    configPeers: config.peers,
    file: MemberDirectory.defaultFile(config.home),
    logger,
  });
  // Both are made after the transport and the driver that call into them: until then, nothing to do.
  let node: RaftNode | null = null;
  const revoked = revocationList(config.revokedCertificates);
  // While this node knows no membership (joining): config.yaml's peers, itself included (so that
  // `raft-signer status --home` of a joining node can read its own status).
  const joiningPeers = config.peers.map((p) => p.id);
  // Every call on the node's port is authorized against the committed membership first.
  const authorizer = new CallAuthorizer({
    nodeId: config.id,
    membership: (): Membership => {
      // Read in place, not through status(): this runs for every call, forwarded sign requests
      // included, and status() copies the whole progress table.
      const cs = node?.raft.confState ?? { voters: [], learners: [] };
      return { voters: cs.voters, learners: cs.learners, joiningPeers };
    },
    revoked,
    logger,
    decorateRefusal: decorateAdminRefusal(config.id),
  });
  const server = createSharedServer({ authorizer });
  let membership: MembershipSync | null = null;
  /** When a message from each peer last arrived: readiness counts contact, not the core's flags. */
  const lastHeard = new Map<NodeId, number>();
  const peerMarks = PeerMarks.load(config.home, config.id, logger);
  /** A peer showed that this node's whole home went back in time (see peer_marks.ts). */
  let behindOwnPast: Error | null = null;
  const transport = new RaftTransport({
    selfId: config.id,
    // config.yaml's peers until the core, created below, says who the members are (sync.refresh()).
    peers: directory.peersFor({ voters: [], learners: [] }),
    tls,
    revoked,
    server,
    logger,
    // A leader and its followers exchange a message every heartbeat: a stream silent for an
    // election timeout is no longer a live one (a second stream for its node id may replace it).
    liveStreamWindowMs: config.raft.electionTimeoutMs,
    onMessage: (m) => {
      lastHeard.set(m.from, Date.now());
      peerMarks.observe(m);
      node?.receive(m);
    },
    localMark: () => {
      const hs = storage.syncedHardState;
      return encodeReportedMark({ storeId: storage.storeId, term: hs.term, vote: hs.vote });
    },
    checkPeerMark: (peer, text) => peerMarks.check(peer, decodeReportedMark(text)),
    onBehindOwnPast: (peer, details) => {
      // Only a voter's word stops this node: a learner's or joining peer's certificate must not be
      // able to knock voters out (the refusing voter refuses this node's stream on its own anyway).
      if (behindOwnPast || !node?.raft.confState.voters.includes(peer)) {
        logger.warn('a peer that is not a voter says this node is behind its own past; not acted upon', { peer, detail: details });
        return;
      }
      behindOwnPast = new BehindOwnPastError(`${peer} refused this node: ${details}. ${rejoinAsLearnerSteps(rejoin)}`);
      logger.error('this node is behind its own past (its home was rolled back): it stops taking part', { peer, detail: details });
      node?.failStop(behindOwnPast);
    },
    onPeerUnreachable: (peer) => node?.reportUnreachable(peer),
    onPeerDown: (peer) => node?.reportPeerDown(peer),
    founding: {
      info: (asker, askerStore) => ({
        nodeId: config.id,
        storeId: storage.storeId,
        founders: config.peers.map((p) => p.id).sort(),
        founded: storage.founding,
        storeSeen: askerStore !== '' && peerMarks.markOf(asker, askerStore) !== undefined,
      }),
      digest: () => (storage.founding === null ? null : foundingDigest(decodeFounding(storage.founding))),
    },
  });
  let startupStopped = false;
  let serverBound = false;
  const found = async (): Promise<FoundingMembership> => {
    if (!options.newCluster && !hasNewClusterMarker(config.home)) throw new RejoinRequiredError(rejoin, config.dataDir);
    // The other founders must be able to ask us too: listen before asking them.
    await bindSharedServer(server, config.listen, serverCredentials(tls));
    serverBound = true;
    const told = new Map<NodeId, number>();
    return gatherFounding({
      selfId: config.id,
      storeId: storage.storeId,
      peers: otherPeers,
      ask: (peer) => askFounding(peer.address, tls, peer.id, storage.storeId, 1000),
      waiting: (peer, why) => {
        const last = told.get(peer.id) ?? 0;
        if (Date.now() - last < 10_000) return;
        told.set(peer.id, Date.now());
        logger.info(`waiting for founder ${peer.id} at ${peer.address} to start: a new cluster is founded once every founder has answered`, { why });
      },
      sleep,
      stopped: () => startupStopped,
      rejoin,
    });
  };
  let created: RaftNode;
  try {
    created = await RaftNode.create({
      id: config.id,
      found,
      join: config.join,
      storage,
      sender: transport,
      machine: observedMachine(machine, metrics, (entries) => membership?.onCommitted(entries)),
      machineApplied: machine.applied,
      timing: config.raft,
      logger,
      onBootstrapped: () => removeNewClusterMarker(config.home),
    });
  } catch (e) {
    startupStopped = true;
    transport.close();
    if (serverBound) await stopSharedServer(server, 100);
    await storage.close();
    throw e;
  }
  node = created;
  if (behindOwnPast) created.failStop(behindOwnPast);
  created.onRoleChange((_role, leader) => metrics.observeLeader(leader, created.status().term));
  const nodeCredentials = (id: NodeId): grpc.ChannelCredentials => clusterChannelCredentials(tls, id, 'node', revoked);
  const sync = new MembershipSync({
    directory,
    confState: () => created.status().confState,
    updatePeers: (peers) => transport.updatePeers(peers),
    askPeer: async (peer) => (await fetchNodeStatus(peer.address, nodeCredentials(peer.id), peer.id, 1000)).peers,
    logger,
  });
  membership = sync;
  sync.refresh();
  const forwarder = new GrpcLeaderForwarder((id) => directory.addressOf(id), nodeCredentials);
  const coordinator = new SignCoordinator({
    node: created,
    machine,
    keys,
    forwarder,
    deadlineMs: config.signing.deadlineMs,
    logger,
    onOutcome: (chainId, outcome, seconds) => metrics.observeSign(chainId, outcome, seconds),
  });
  // Only voters may sign or ask the leader to decide: a learner (passive standby) must never cause
  // a proposal, whatever version it runs (authorization.ts, replica/sign_path.ts).
  addSignerService(server, { coordinator, authorizer, logger });

  let privval: PrivvalDialers | null = null;
  const thresholds = defaultHealthThresholds(config.raft.electionTimeoutMs);
  const health = (): HealthReport =>
    evaluateHealth(
      {
        raft: created.status(),
        appliedDurably: created.appliedDurably(),
        failure: created.failure(),
        stopped: created.isStopped(),
        lastHeard: (peer) => lastHeard.get(peer) ?? null,
        privval: privval?.status() ?? [],
        now: Date.now(),
      },
      thresholds,
    );
  metrics.bind({
    raft: () => created.status(),
    appliedDurably: () => created.appliedDurably(),
    peers: () => transport.peerStatus(),
    privval: () => privval?.status() ?? [],
    health,
  });

  const admin = new ClusterAdmin({
    node: created,
    directory,
    askIncarnation: async (id, address) => (await askFounding(address, tls, id, '', 2000)).storeId,
    electionTimeoutMs: config.raft.electionTimeoutMs,
    logger,
  });
  addAdminService(server, adminBackend(created, machine, coordinator, transport, admin, directory));
  const grpcHealth = addGrpcHealthService(server, health);
  let http: NodeHttpServer | null = null;
  const metricsListen = options.metricsListen === undefined ? (config.metrics?.listen ?? null) : options.metricsListen;
  try {
    if (!serverBound) await bindSharedServer(server, config.listen, serverCredentials(tls));
  } catch (e) {
    grpcHealth.close();
    transport.close();
    await storage.close();
    throw new Error(`cannot listen on ${config.listen}: ${(e as Error).message}`);
  }
  if (metricsListen !== null) {
    try {
      http = await startNodeHttpServer({ listen: metricsListen, metrics: () => metrics.metrics(), metricsContentType: metrics.contentType, health, logger });
    } catch (e) {
      grpcHealth.close();
      transport.close();
      await stopSharedServer(server, 100);
      await storage.close();
      throw new ConfigError(configFilePath(config.home), [`${configFilePath(config.home)}: ${(e as Error).message}`]);
    }
  }
  created.start();
  sync.start();
  const highWaterRecorder = new StoreHighWaterRecorder(config.home, highWater, logger);
  highWaterRecorder.start(HIGH_WATER_INTERVAL_MS);
  peerMarks.start(HIGH_WATER_INTERVAL_MS);
  logger.info('node started', {
    listen: config.listen,
    peers: config.peers.map((p) => p.id),
    dataDir: config.dataDir,
    ...(http ? { metrics: `http://${http.address}/metrics` } : {}),
  });
  // Dial the validator node(s) only once the node runs: their requests go through the sign path.
  const dialers = startPrivvalDialers({
    targets: config.chains.flatMap((c) => c.validatorAddrs.map((address) => ({ chainId: c.chainId, address }))),
    signPath: coordinator,
    identity: signerIdentity.identity,
    logger,
    observer: (event) => metrics.observePrivvalRequest(event),
  });
  privval = dialers;
  if (signerIdentity.created) logger.info('created the privval identity key', { file: signerIdentity.path, nodeId: signerIdentity.identity.nodeId });

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await dialers.close();
      await handOverLeadership(created, config, logger);
      sync.stop();
      await created.stop();
      highWaterRecorder.stop();
      peerMarks.stop();
      grpcHealth.close();
      await http?.close();
      forwarder.close();
      transport.close();
      await stopSharedServer(server as grpc.Server, 500);
      await storage.close();
      logger.info('node stopped');
    })();
    return stopping;
  };
  return {
    config,
    node: created,
    privval: dialers,
    machine,
    coordinator,
    metrics,
    httpAddress: http?.address ?? null,
    health,
    logger,
    stop,
  };
}

/**
 * The package version for raftsigner_node_info, from package.json two directories up (the
 * package root from src/node and dist/node alike); a missing or odd file must not stop a node.
 */
function safeVersion(): string {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof parsed.version === 'string' ? parsed.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Times the driver's one write per Ready (log entries, hard state and the state machine's records
 * in one batch, fsynced when the Ready must sync): the append and fsync latency of this node.
 * RaftNode has no hook for it, so the storage's persist is wrapped on this instance; what it
 * returns and throws is unchanged.
 */
function timePersist(storage: RaftStorage, metrics: NodeMetrics): void {
  const persist = storage.persist.bind(storage);
  storage.persist = (request, stateMachineOps, options) => {
    const started = performance.now();
    const done = persist(request, stateMachineOps, options);
    done.then(
      () => metrics.observePersist((performance.now() - started) / 1000, options?.sync !== false, request.entries.length),
      () => undefined, // the driver handles the failure; nothing to measure
    );
    return done;
  };
}

/**
 * The state machine the driver applies to, seen from outside: applies are timed, and committed
 * membership changes are handed to `onCommitted` (the peer links follow them) before the driver
 * sends the batch's messages.
 */
function observedMachine(machine: StateMachine, metrics: NodeMetrics, onCommitted: (entries: Entry[]) => void): StateMachine {
  return {
    apply(entries) {
      const started = performance.now();
      const ops = machine.apply(entries);
      metrics.observeApply((performance.now() - started) / 1000);
      onCommitted(entries);
      return ops;
    },
    restore(data, index) {
      return machine.restore(data, index);
    },
    snapshot() {
      return machine.snapshot();
    },
  };
}

function adminBackend(
  node: RaftNode,
  machine: SignerStateMachine,
  coordinator: SignCoordinator,
  transport: RaftTransport,
  admin: ClusterAdmin,
  directory: MemberDirectory,
): AdminBackend {
  return {
    nodeId: node.id,
    transferLeader: (to, budgetMs) => admin.transferLeader(to, budgetMs),
    changeMembership: (change, budgetMs) => admin.changeMembership(change, budgetMs),
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
        if (e instanceof ProposalRefusedError) {
          const leader = node.status().leader;
          throw new NotLeaderAdminError(node.id, leader, leader ? directory.addressOf(leader) : null);
        }
        throw e;
      }
    },
    chainState: (chainId) => {
      const key = coordinator.publicKeyFor(chainId);
      const rec = key ? machine.recordOf(chainId, key) : null;
      if (!key || !rec) return null;
      return { pubKey: key, ...rec.record, appliedIndex: node.appliedDurably() };
    },
    chainStateAtLeader: (chainId, budgetMs) => chainStateAtLeader({ node, machine, coordinator, addressOf: (id) => directory.addressOf(id) }, chainId, budgetMs),
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
  while (Date.now() < deadline && node.status().role === Role.Leader) await sleep(10);
  const after = node.status();
  if (after.role === Role.Leader) logger.warn(`${target} did not take over in time; stopping anyway`);
  else logger.info(`leadership handed over`, { leader: after.leader, term: after.term });
}
