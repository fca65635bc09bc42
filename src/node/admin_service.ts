// The Admin gRPC service on a node's shared server, and the client side used by the CLI. The
// server already requires a certificate that chains to the cluster CA (mutual TLS); status is
// read-only, so any such certificate, node or admin client, may read it.

import * as grpc from '@grpc/grpc-js';
import { RaftStatus, Role } from '../raft/types';
import { PeerStatus } from '../transport/raft_transport';
import { loadProtoFile } from '../transport/proto_loader';

/** A node's status as the CLI shows it (numbers already converted from uint64 strings). */
export interface NodeStatusView {
  id: string;
  role: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  voters: string[];
  learners: string[];
  learner: boolean;
  progress: { id: string; match: number; next: number; state: string; recentActive: boolean; learner: boolean }[];
  peers: { id: string; address: string; connected: boolean; lastError: string | null }[];
  /** The slashing watermark per (chain, key) as this node has applied it; pubKey in hex. */
  chains: ChainWatermark[];
}

export interface ChainWatermark {
  chainId: string;
  pubKey: string;
  height: string;
  round: number;
  step: number;
}

/** A node's full applied record for one chain (ChainState). */
export interface ChainStateView {
  pubKey: Uint8Array;
  height: bigint;
  round: number;
  step: number;
  signBytes: Uint8Array;
  signature: Uint8Array;
  appliedIndex: number;
}

/** What the Admin service asks of the node beyond its Raft status. */
export interface AdminBackend {
  status(): NodeStatusView;
  /** Commits an import (leader only: throws NotLeaderAdminError elsewhere). */
  importState(request: ImportStateRequestView): Promise<{ imported: boolean; message: string; index: number }>;
  chainState(chainId: string): ChainStateView | null;
}

export interface ImportStateRequestView {
  chainId: string;
  pubKey: Uint8Array;
  height: bigint;
  round: number;
  step: number;
  signBytes: Uint8Array;
  signature: Uint8Array;
}

/** An admin command that only the leader can carry out was sent to another node. */
export class NotLeaderAdminError extends Error {
  constructor(
    readonly nodeId: string,
    readonly leader: string | null,
  ) {
    super(
      leader
        ? `node ${nodeId} is not the leader; send this to the leader, ${leader}`
        : `node ${nodeId} is not the leader and knows no leader: the cluster has no quorum right now`,
    );
    this.name = 'NotLeaderAdminError';
  }
}

function adminService(): grpc.ServiceClientConstructor {
  const tree = loadProtoFile('admin.proto');
  const pkg = ((tree.raftsigner as grpc.GrpcObject).admin as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return pkg.Admin as grpc.ServiceClientConstructor;
}

export function statusView(raft: RaftStatus, peers: PeerStatus[], chains: ChainWatermark[] = []): NodeStatusView {
  return {
    id: raft.id,
    // The status contract knows leader, follower, candidate and learner; a pre-candidate (pre-vote
    // round, term not raised) is a candidate to an operator.
    role: raft.isLearner ? 'learner' : raft.role === Role.PreCandidate ? 'candidate' : raft.role,
    term: raft.term,
    leader: raft.leader,
    commitIndex: raft.commitIndex,
    appliedIndex: raft.appliedIndex,
    lastIndex: raft.lastIndex,
    snapshotIndex: raft.snapshotIndex,
    voters: raft.confState.voters,
    learners: raft.confState.learners,
    learner: raft.isLearner,
    progress: raft.progress.map((p) => ({ id: p.id, match: p.match, next: p.next, state: p.state, recentActive: p.recentActive, learner: p.isLearner })),
    peers: peers.map((p) => ({ id: p.id, address: p.address, connected: p.connected, lastError: p.lastError })),
    chains,
  };
}

/** Adds the Admin service to the node's shared server. */
export function addAdminService(server: grpc.Server, backend: AdminBackend): void {
  server.addService(adminService().service, {
    ImportState: (call: grpc.ServerUnaryCall<WireImportState, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const w = call.request;
      if (!/^\d+$/.test(w.height) || w.round < 0 || w.step > 3 || w.pubKey.length !== 32 || w.chainId === '') {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: 'malformed import: needs a chain id, a 32-byte key, height >= 0, round >= 0, step 0..3' });
        return;
      }
      backend
        .importState({ chainId: w.chainId, pubKey: w.pubKey, height: BigInt(w.height), round: w.round, step: w.step, signBytes: w.signBytes, signature: w.signature })
        .then(
          (r) => callback(null, { imported: r.imported, message: r.message, index: String(r.index) }),
          (e: unknown) =>
            callback({ code: e instanceof NotLeaderAdminError ? grpc.status.FAILED_PRECONDITION : grpc.status.UNAVAILABLE, details: (e as Error).message }),
        );
    },
    ChainState: (call: grpc.ServerUnaryCall<{ chainId: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const r = backend.chainState(call.request.chainId);
      if (!r) {
        callback(null, { found: false });
        return;
      }
      callback(null, {
        found: true,
        pubKey: Buffer.from(r.pubKey),
        height: r.height.toString(),
        round: r.round,
        step: r.step,
        signBytes: Buffer.from(r.signBytes),
        signature: Buffer.from(r.signature),
        appliedIndex: String(r.appliedIndex),
      });
    },
    Status: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const s = backend.status();
      callback(null, {
        id: s.id,
        role: s.role,
        term: String(s.term),
        leader: s.leader ?? '',
        commitIndex: String(s.commitIndex),
        appliedIndex: String(s.appliedIndex),
        lastIndex: String(s.lastIndex),
        snapshotIndex: String(s.snapshotIndex),
        voters: s.voters,
        learners: s.learners,
        learner: s.learner,
        progress: s.progress.map((p) => ({ ...p, match: String(p.match), next: String(p.next), recentActive: p.recentActive })),
        peers: s.peers.map((p) => ({ ...p, lastError: p.lastError ?? '' })),
        chains: s.chains.map((c) => ({ ...c, pubKey: Buffer.from(c.pubKey, 'hex') })),
      });
    },
  });
}

interface WireImportState {
  chainId: string;
  pubKey: Buffer;
  height: string;
  round: number;
  step: number;
  signBytes: Buffer;
  signature: Buffer;
}

interface WireStatus {
  id: string;
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

/** One unary Admin call to a node; rejects on any failure (unreachable, refused, deadline). */
function callAdmin<Res>(
  address: string,
  credentials: grpc.ChannelCredentials,
  serverName: string,
  method: 'Status' | 'ImportState' | 'ChainState',
  request: object,
  deadlineMs: number,
): Promise<Res> {
  const Client = adminService();
  const client = new Client(address, credentials, { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName });
  type Method = (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => void;
  const fn = (client as unknown as Record<string, Method>)[method].bind(client);
  return new Promise<Res>((resolve, reject) => {
    fn(request, { deadline: Date.now() + deadlineMs }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
  });
}

/** Asks one node for its status. */
export async function fetchNodeStatus(address: string, credentials: grpc.ChannelCredentials, serverName: string, deadlineMs: number): Promise<NodeStatusView> {
  const res = await callAdmin<WireStatus>(address, credentials, serverName, 'Status', {}, deadlineMs);
  return {
    id: res.id,
    role: res.role,
    term: Number(res.term),
    leader: res.leader === '' ? null : res.leader,
    commitIndex: Number(res.commitIndex),
    appliedIndex: Number(res.appliedIndex),
    lastIndex: Number(res.lastIndex),
    snapshotIndex: Number(res.snapshotIndex),
    voters: res.voters,
    learners: res.learners,
    learner: res.learner,
    progress: res.progress.map((p) => ({ ...p, match: Number(p.match), next: Number(p.next) })),
    peers: res.peers.map((p) => ({ ...p, lastError: p.lastError === '' ? null : p.lastError })),
    chains: res.chains.map((c) => ({ ...c, pubKey: c.pubKey.toString('hex') })),
  };
}

/** Asks one node for its applied record of a chain; null when it has none. */
export async function fetchChainState(
  address: string,
  credentials: grpc.ChannelCredentials,
  serverName: string,
  chainId: string,
  deadlineMs: number,
): Promise<ChainStateView | null> {
  const res = await callAdmin<{
    found: boolean;
    pubKey: Buffer;
    height: string;
    round: number;
    step: number;
    signBytes: Buffer;
    signature: Buffer;
    appliedIndex: string;
  }>(address, credentials, serverName, 'ChainState', { chainId }, deadlineMs);
  if (!res.found) return null;
  return {
    pubKey: res.pubKey,
    height: BigInt(res.height),
    round: res.round,
    step: res.step,
    signBytes: res.signBytes,
    signature: res.signature,
    appliedIndex: Number(res.appliedIndex),
  };
}

/** Sends an import to one node; a node that is not the leader rejects with FAILED_PRECONDITION. */
export async function sendImportState(
  address: string,
  credentials: grpc.ChannelCredentials,
  serverName: string,
  request: ImportStateRequestView,
  deadlineMs: number,
): Promise<{ imported: boolean; message: string; index: number }> {
  const res = await callAdmin<{ imported: boolean; message: string; index: string }>(
    address,
    credentials,
    serverName,
    'ImportState',
    {
      chainId: request.chainId,
      pubKey: Buffer.from(request.pubKey),
      height: request.height.toString(),
      round: request.round,
      step: request.step,
      signBytes: Buffer.from(request.signBytes),
      signature: Buffer.from(request.signature),
    },
    deadlineMs,
  );
  return { imported: res.imported, message: res.message, index: Number(res.index) };
}
