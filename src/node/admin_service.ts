// The Admin gRPC service on a node's shared server, and the client side used by the CLI. The
// server requires a certificate that chains to the cluster CA (mutual TLS) and authorizes every
// call before it reaches a handler here (src/transport/authorization.ts, which holds the table):
//  - reads (Status, ChainState): the admin client certificate, or a member's node certificate;
//  - changes (ImportState, TransferLeader, AddLearner, Promote, Remove): an admin client
//    certificate (role client: what `testnet` writes to admin/ for operators, `--admin DIR`), or
//    the node certificate of a current VOTER (`--home` of a voter). A voter's certificate already
//    carries full authority over the log (it votes, it may lead, and a leader proposes any change
//    it likes), so accepting it adds no power; a learner's, a removed node's or a not-yet-added
//    node's certificate carries none, and accepting it would let a standby promote itself or a
//    removed node add itself back. A refusal carries the AdminError code 'not-authorized'
//    (decorateAdminRefusal).
//
// Changes are carried out by the leader only. Another node answers FAILED_PRECONDITION with the
// leader's id and address in the trailing metadata, and the CLI asks the leader (forwarding on
// the server would need the node to hold an admin-capable client of its own and to pass the
// caller's identity along; a redirect keeps the caller's own certificate on every hop).
// Every refusal is an AdminError: a code the client can act on (AdminErrorCode), the node that
// answered, and a message that says what to do.

import * as grpc from '@grpc/grpc-js';
import { NodeId, RaftStatus, Role } from '../raft/types';
import { RpcPath } from '../transport/authorization';
import { assertAuthorizedServer } from '../transport/grpc_server';
import { PeerStatus } from '../transport/raft_transport';
import { loadProtoFile } from '../transport/proto_loader';
import { importProblem } from '../signer/signer_codec';

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
  /** This node's store id (its incarnation). */
  storeId: string;
  /** Whether the membership names this very store (false: a new store, which counts for nothing). */
  storeNamed: boolean;
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
  /**
   * The log index of the read barrier the leader answered after (leader_reads.ts): the record
   * holds everything committed before the call. 0 or absent: this node's own applied record.
   */
  readIndex?: number;
}

/** The outcome of a leadership transfer. */
export interface TransferLeaderView {
  /** The leader before (the node that answered). */
  from: string;
  /** The leader after; equals `from` when it already was the one asked for. */
  leader: string;
  term: number;
}

/** The membership after a change was committed (or found already in place). */
export interface MembershipView {
  changed: boolean;
  index: number;
  voters: string[];
  learners: string[];
  leader: string;
  message: string;
}

export type MembershipChange =
  | { kind: 'add-learner'; id: string; address: string; storeId?: string }
  | { kind: 'promote'; id: string }
  | { kind: 'remove'; id: string };

/** What the Admin service asks of the node beyond its Raft status. */
export interface AdminBackend {
  /** This node's id, for refusals. */
  nodeId: string;
  status(): NodeStatusView;
  /** Commits an import (leader only: throws NotLeaderAdminError elsewhere). */
  importState(request: ImportStateRequestView): Promise<{ imported: boolean; message: string; index: number }>;
  chainState(chainId: string): ChainStateView | null;
  /** Leader only (throws NotLeaderAdminError elsewhere): the record after a read barrier (leader_reads.ts). */
  chainStateAtLeader(chainId: string, budgetMs: number): Promise<ChainStateView | null>;
  /** Leader only; throws AdminError. `to` null: the most up-to-date live voter. */
  transferLeader(to: string | null, budgetMs: number): Promise<TransferLeaderView>;
  /** Leader only; throws AdminError. Resolves once the change is committed and applied here. */
  changeMembership(change: MembershipChange, budgetMs: number): Promise<MembershipView>;
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

/**
 * Why an admin call was refused. The client retries the transient ones (see RETRYABLE_ADMIN_ERRORS)
 * and reports the others with the message.
 */
export type AdminErrorCode =
  /** Sent to a follower: the metadata names the leader and its address. */
  | 'not-leader'
  /** No leader is known: an election is running, or a majority of voters is unreachable. */
  | 'no-leader'
  /** The leader appended the change but a majority did not acknowledge it in time. */
  | 'no-quorum'
  /** Another membership change is not committed yet (thesis 4.1: one at a time). */
  | 'change-pending'
  /** A new leader has not committed an entry of its own term yet; changes wait for that. */
  | 'term-not-committed'
  /** A leadership transfer is running; changes wait for it. */
  | 'transfer-in-progress'
  /** The learner to promote is not replicating yet. */
  | 'learner-not-caught-up'
  /** The node named is not a member (or not a learner/voter, as the change needs). */
  | 'not-a-member'
  /** The node named is already a member in another role or at another address. */
  | 'already-member'
  /** Malformed request: bad id, bad address, a change the core refuses. */
  | 'invalid-request'
  /** The transfer target did not take over in time. */
  | 'transfer-failed'
  /** Leadership changed before the change committed: nothing changed, try again. */
  | 'lost'
  /** This node is stopping or stopped after an error. */
  | 'node-stopped'
  /** The caller's certificate may not make changes. */
  | 'not-authorized'
  /** The node the change is about cannot be asked (add-learner asks the new node for its store). */
  | 'unreachable';

/** Codes that can clear up by themselves within seconds: the CLI retries them until its timeout. */
export const RETRYABLE_ADMIN_ERRORS: ReadonlySet<AdminErrorCode> = new Set<AdminErrorCode>([
  'not-leader',
  'no-leader',
  'change-pending',
  'term-not-committed',
  'transfer-in-progress',
  'learner-not-caught-up',
  'lost',
  // add-learner asks the new node for its store: it may still be starting.
  'unreachable',
]);

const ADMIN_ERROR_GRPC_CODE: Record<AdminErrorCode, grpc.status> = {
  'not-leader': grpc.status.FAILED_PRECONDITION,
  'no-leader': grpc.status.UNAVAILABLE,
  'no-quorum': grpc.status.UNAVAILABLE,
  'change-pending': grpc.status.ABORTED,
  'term-not-committed': grpc.status.ABORTED,
  'transfer-in-progress': grpc.status.ABORTED,
  'learner-not-caught-up': grpc.status.FAILED_PRECONDITION,
  'not-a-member': grpc.status.NOT_FOUND,
  'already-member': grpc.status.ALREADY_EXISTS,
  'invalid-request': grpc.status.INVALID_ARGUMENT,
  'transfer-failed': grpc.status.ABORTED,
  lost: grpc.status.ABORTED,
  'node-stopped': grpc.status.UNAVAILABLE,
  'not-authorized': grpc.status.PERMISSION_DENIED,
  unreachable: grpc.status.UNAVAILABLE,
};

/** Trailing metadata keys of an admin refusal. */
export const ADMIN_ERROR_KEY = 'raftsigner-admin-error';
export const ADMIN_NODE_KEY = 'raftsigner-node';
export const ADMIN_LEADER_KEY = 'raftsigner-leader';
export const ADMIN_LEADER_ADDRESS_KEY = 'raftsigner-leader-address';

/** A refused admin call, on the server (thrown by the backend) and on the client (adminErrorOf). */
export class AdminError extends Error {
  constructor(
    readonly code: AdminErrorCode,
    message: string,
    /** The node that answered. */
    readonly nodeId: string,
    /** The leader as that node knows it (not-leader), with its address when known. */
    readonly leader: { id: string; address: string | null } | null = null,
  ) {
    super(message);
    this.name = 'AdminError';
  }

  get retryable(): boolean {
    return RETRYABLE_ADMIN_ERRORS.has(this.code);
  }

  toServiceError(): Partial<grpc.StatusObject> {
    const metadata = new grpc.Metadata();
    metadata.set(ADMIN_ERROR_KEY, this.code);
    metadata.set(ADMIN_NODE_KEY, this.nodeId);
    if (this.leader) {
      metadata.set(ADMIN_LEADER_KEY, this.leader.id);
      if (this.leader.address) metadata.set(ADMIN_LEADER_ADDRESS_KEY, this.leader.address);
    }
    return { code: ADMIN_ERROR_GRPC_CODE[this.code], details: this.message, metadata };
  }
}

/** An admin command that only the leader can carry out was sent to another node. */
export class NotLeaderAdminError extends AdminError {
  constructor(nodeId: string, leader: string | null, leaderAddress: string | null = null) {
    super(
      leader ? 'not-leader' : 'no-leader',
      leader
        ? `node ${nodeId} is not the leader; send this to the leader, ${leader}${leaderAddress ? ` (${leaderAddress})` : ''}`
        : `node ${nodeId} is not the leader and knows no leader: an election is running or the cluster has no quorum right now; ` +
            'check `raft-signer status` and bring a majority of the voters back',
      nodeId,
      leader ? { id: leader, address: leaderAddress } : null,
    );
    this.name = 'NotLeaderAdminError';
  }
}

/** The AdminError a failed client call carries, or null when the failure is not an admin refusal. */
export function adminErrorOf(e: unknown): AdminError | null {
  const err = e as Partial<grpc.ServiceError>;
  if (!(err.metadata instanceof grpc.Metadata)) return null;
  const first = (key: string): string | null => {
    const v = err.metadata?.get(key)[0];
    return typeof v === 'string' && v !== '' ? v : null;
  };
  const code = first(ADMIN_ERROR_KEY) as AdminErrorCode | null;
  if (code === null || !(code in ADMIN_ERROR_GRPC_CODE)) return null;
  const leader = first(ADMIN_LEADER_KEY);
  return new AdminError(code, err.details || err.message || code, first(ADMIN_NODE_KEY) ?? '?', leader ? { id: leader, address: first(ADMIN_LEADER_ADDRESS_KEY) } : null);
}

const ADMIN_SERVICE_PREFIX = '/raftsigner.admin.v1.Admin/';

/**
 * For the server's authorizer: a refused Admin call carries the AdminError code 'not-authorized'
 * and the answering node, as every admin refusal does, and says which certificate to use.
 */
export function decorateAdminRefusal(nodeId: string): (rpc: RpcPath, status: grpc.StatusObject) => grpc.StatusObject {
  return (rpc, status) => {
    if (!rpc.startsWith(ADMIN_SERVICE_PREFIX)) return status;
    const read = rpc === `${ADMIN_SERVICE_PREFIX}Status` || rpc === `${ADMIN_SERVICE_PREFIX}ChainState`;
    const hint = `; use the admin client certificate (--admin DIR) or the home of a ${read ? 'member' : 'voter'} (--home)`;
    return new AdminError('not-authorized', `${status.details}${hint}`, nodeId).toServiceError() as grpc.StatusObject;
  };
}

/** How long a call may still run (its deadline minus a margin for the answer), within [min, max]. */
export function callBudgetMs(call: { getDeadline(): grpc.Deadline }, fallbackMs: number, minMs = 200, maxMs = 60_000): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return fallbackMs;
  return Math.max(minMs, Math.min(maxMs, at - Date.now() - 100));
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
    storeId: raft.incarnation,
    storeNamed: raft.incarnationMatches,
  };
}

/** How long a change may take when the caller set no deadline. */
const DEFAULT_CHANGE_BUDGET_MS = 10_000;

function toWireMembership(v: MembershipView): WireMembership {
  return { ...v, index: String(v.index) };
}

function refusal(e: unknown, nodeId: string): Partial<grpc.StatusObject> {
  if (e instanceof AdminError) return e.toServiceError();
  return { code: grpc.status.INTERNAL, details: `node ${nodeId}: ${(e as Error).message}` };
}

/** Adds the Admin service to the node's shared server. */
export function addAdminService(server: grpc.Server, backend: AdminBackend): void {
  assertAuthorizedServer(server, 'Admin');
  const change = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>, change: MembershipChange): void => {
    backend.changeMembership(change, callBudgetMs(call, DEFAULT_CHANGE_BUDGET_MS)).then(
      (v) => callback(null, toWireMembership(v)),
      (e: unknown) => callback(refusal(e, backend.nodeId)),
    );
  };
  server.addService(adminService().service, {
    TransferLeader: (call: grpc.ServerUnaryCall<{ to: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      backend.transferLeader(call.request.to === '' ? null : call.request.to, callBudgetMs(call, DEFAULT_CHANGE_BUDGET_MS)).then(
        (v) => callback(null, { from: v.from, leader: v.leader, term: String(v.term) }),
        (e: unknown) => callback(refusal(e, backend.nodeId)),
      );
    },
    AddLearner: (call: grpc.ServerUnaryCall<{ id: string; address: string; storeId: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      change(call, callback, { kind: 'add-learner', id: call.request.id, address: call.request.address, ...(call.request.storeId ? { storeId: call.request.storeId } : {}) }),
    Promote: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      change(call, callback, { kind: 'promote', id: call.request.id }),
    Remove: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      change(call, callback, { kind: 'remove', id: call.request.id }),
    ImportState: (call: grpc.ServerUnaryCall<WireImportState, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      // Raising a watermark is a change like any other: the same certificates may make it (authorization.ts).
      const w = call.request;
      // Refused here, before anything is proposed, with the reason; the state machine checks the
      // same again when it applies the entry (signer_codec.ts importProblem), on every node.
      const problem = /^\d+$/.test(w.height)
        ? importProblem({
            chainId: w.chainId,
            pubKey: w.pubKey,
            record: { height: BigInt(w.height), round: w.round, step: w.step as 0 | 1 | 2 | 3, signBytes: w.signBytes, signature: w.signature },
          })
        : `height ${JSON.stringify(w.height)} is not a non-negative integer`;
      if (problem) {
        callback(new AdminError('invalid-request', `node ${backend.nodeId} refuses the import: ${problem}; nothing was imported`, backend.nodeId).toServiceError());
        return;
      }
      backend
        .importState({ chainId: w.chainId, pubKey: w.pubKey, height: BigInt(w.height), round: w.round, step: w.step, signBytes: w.signBytes, signature: w.signature })
        .then(
          (r) => callback(null, { imported: r.imported, message: r.message, index: String(r.index) }),
          (e: unknown) =>
            callback(e instanceof AdminError ? e.toServiceError() : { code: grpc.status.UNAVAILABLE, details: (e as Error).message }),
        );
    },
    ChainState: (call: grpc.ServerUnaryCall<{ chainId: string; readBarrier: boolean }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const answer = (r: ChainStateView | null): void => {
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
          readIndex: String(r.readIndex ?? 0),
        });
      };
      // A read like any other (any certificate of the cluster CA); with read_barrier it costs the
      // leader one empty log entry.
      if (call.request.readBarrier) {
        backend.chainStateAtLeader(call.request.chainId, callBudgetMs(call, DEFAULT_CHANGE_BUDGET_MS)).then(answer, (e: unknown) => callback(refusal(e, backend.nodeId)));
        return;
      }
      answer(backend.chainState(call.request.chainId));
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
        storeId: s.storeId,
        storeNamed: s.storeNamed,
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

interface WireMembership {
  changed: boolean;
  index: string;
  voters: string[];
  learners: string[];
  leader: string;
  message: string;
}

interface WireStatus {
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

/** One unary Admin call to a node; rejects on any failure (unreachable, refused, deadline). */
function callAdmin<Res>(
  address: string,
  credentials: grpc.ChannelCredentials,
  serverName: string,
  method: 'Status' | 'ImportState' | 'ChainState' | 'TransferLeader' | 'AddLearner' | 'Promote' | 'Remove',
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
    storeId: res.storeId,
    storeNamed: res.storeNamed,
  };
}

/**
 * Asks one node for its applied record of a chain; null when it has none. With `readBarrier`,
 * only the leader answers, after a read barrier (a follower rejects with an AdminError
 * 'not-leader' naming the leader, adminErrorOf): the answer then holds everything released.
 */
export async function fetchChainState(
  address: string,
  credentials: grpc.ChannelCredentials,
  serverName: string,
  chainId: string,
  deadlineMs: number,
  options: { readBarrier?: boolean } = {},
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
    readIndex: string;
  }>(address, credentials, serverName, 'ChainState', { chainId, readBarrier: options.readBarrier === true }, deadlineMs);
  if (!res.found) return null;
  return {
    pubKey: res.pubKey,
    height: BigInt(res.height),
    round: res.round,
    step: res.step,
    signBytes: res.signBytes,
    signature: res.signature,
    appliedIndex: Number(res.appliedIndex),
    readIndex: Number(res.readIndex ?? 0),
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

/** Where and how to reach one node for an admin call. */
export interface AdminTarget {
  address: string;
  credentials: grpc.ChannelCredentials;
  /** The node id expected (TLS SNI and authority); any name when the id is unknown. */
  serverName: string;
}

/**
 * Asks a node to hand leadership over (to `to`, or to the best voter when null). A follower
 * rejects with an AdminError 'not-leader' naming the leader (adminErrorOf).
 */
export async function sendTransferLeader(target: AdminTarget, to: NodeId | null, deadlineMs: number): Promise<TransferLeaderView> {
  const res = await callAdmin<{ from: string; leader: string; term: string }>(
    target.address,
    target.credentials,
    target.serverName,
    'TransferLeader',
    { to: to ?? '' },
    deadlineMs,
  );
  return { from: res.from, leader: res.leader, term: Number(res.term) };
}

/** Asks a node to make a membership change; the same refusals as sendTransferLeader. */
export async function sendMembershipChange(target: AdminTarget, change: MembershipChange, deadlineMs: number): Promise<MembershipView> {
  const [method, request] =
    change.kind === 'add-learner'
      ? (['AddLearner', { id: change.id, address: change.address, storeId: change.storeId ?? '' }] as const)
      : change.kind === 'promote'
        ? (['Promote', { id: change.id }] as const)
        : (['Remove', { id: change.id }] as const);
  const res = await callAdmin<WireMembership>(target.address, target.credentials, target.serverName, method, request, deadlineMs);
  return { ...res, index: Number(res.index) };
}
