// The Admin service's client side, for the CLI and for nodes (the server side: admin_server.ts).

import * as grpc from '@grpc/grpc-js';
import type { ChainStateView, ImportStateRequestView, MembershipChange, MembershipView, NodeStatusView, TransferLeaderView } from './admin_views';
import type { NodeId } from '../raft/types';
import { adminService, WireChainState, WireMembership, WireStatus } from './admin_wire';

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
  const res = await callAdmin<WireChainState>(address, credentials, serverName, 'ChainState', { chainId, readBarrier: options.readBarrier === true }, deadlineMs);
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
