// The Admin service's domain vocabulary: node status, chain state, changes, and AdminBackend.

import { RaftStatus, Role } from '../raft/types';

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

/** A node's status view from its Raft status, its peer streams (RaftTransport.peerStatus()) and its watermarks. */
export function statusView(raft: RaftStatus, peers: NodeStatusView['peers'], chains: ChainWatermark[] = []): NodeStatusView {
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
