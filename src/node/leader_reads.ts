// Reads of the slashing records that must include everything the cluster has released: what
// `state export` writes for a signer that takes over, and what `state import` compares a new
// watermark with. A follower's applied records can lag the commit index (right after a leader
// crash, the followers may not have heard that the last entry committed, though the leader
// released its signature), so these are answered by the leader only, after a read barrier
// through the log (SignPath.readBarrier, src/replica/sign_path.ts). Another node answers 'not-leader' naming the
// leader and its address, as every Admin change does, and the CLI asks the leader.

import { ProposalRefusedError } from '../raft/errors';
import { Role } from '../raft/types';
import { DeadlineError, LeadershipChangedError } from '../replica/sign_path';
import { SignerStateMachine } from '../signer/signer_state_machine';
import { AdminError, NotLeaderAdminError } from '../transport/admin_errors';
import { ChainStateView } from '../transport/admin_views';
import { NodeStoppedError } from '../replica/driver';
import { RaftNode } from './raft_node';
import { SignCoordinator } from './sign_coordinator';

export interface LeaderReadContext {
  node: RaftNode;
  machine: SignerStateMachine;
  coordinator: SignCoordinator;
  /** A member's gRPC address, for the redirect; null when unknown. */
  addressOf(id: string): string | null;
}

/**
 * The chain's record (for the key this node serves it with) as of a read barrier on the leader:
 * it holds everything committed before the call, every released signature included. Null when
 * the chain has no record (or this node does not serve it). Throws an AdminError otherwise.
 */
export async function chainStateAtLeader(ctx: LeaderReadContext, chainId: string, budgetMs: number): Promise<ChainStateView | null> {
  const id = ctx.node.id;
  if (ctx.node.isStopped()) throw new AdminError('node-stopped', `node ${id} is stopping or stopped; ask another node`, id);
  const status = ctx.node.status();
  if (status.role !== Role.Leader) throw new NotLeaderAdminError(id, status.leader, status.leader ? ctx.addressOf(status.leader) : null);
  let barrier: { index: number };
  try {
    barrier = await ctx.coordinator.readBarrier(budgetMs);
  } catch (e) {
    throw readRefusal(ctx, e);
  }
  const key = ctx.coordinator.publicKeyFor(chainId);
  const rec = key ? ctx.machine.recordOf(chainId, key) : null;
  if (!key || !rec) return null;
  return { pubKey: key, ...rec.record, appliedIndex: ctx.node.appliedDurably(), readIndex: barrier.index };
}

function readRefusal(ctx: LeaderReadContext, e: unknown): Error {
  const id = ctx.node.id;
  if (e instanceof NodeStoppedError) return new AdminError('node-stopped', `node ${id}: ${e.message}; ask another node`, id);
  if (e instanceof LeadershipChangedError) return new AdminError('lost', `node ${id}: ${e.message}`, id);
  if (e instanceof DeadlineError) {
    return new AdminError(
      'no-quorum',
      `node ${id} (leader): ${e.message}: a majority of the voters did not answer; check \`raft-signer status\` and bring them back`,
      id,
    );
  }
  if (e instanceof ProposalRefusedError) {
    if (e.reason === 'not-leader') return new NotLeaderAdminError(id, e.leaderHint, e.leaderHint ? ctx.addressOf(e.leaderHint) : null);
    if (e.reason === 'transfer-in-progress') return new AdminError('transfer-in-progress', `node ${id} (leader): ${e.message}`, id);
    return new AdminError('invalid-request', `node ${id} (leader): ${e.message}`, id);
  }
  return e as Error;
}
