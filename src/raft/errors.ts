// Errors the core reports to its driver. Each says why, so that the signer can pass a reason the
// operator can act on ("not the leader, the leader is node2") rather than a bare failure.

import { NodeId } from './types';
import { RaftSignerError } from '../util/errors';

export type ProposalRefusal =
  | 'not-leader'
  | 'transfer-in-progress'
  | 'conf-change-pending'
  | 'term-not-committed'
  | 'invalid-conf-change'
  | 'learner-not-caught-up';

export class ProposalRefusedError extends RaftSignerError<{
  code: 'PROPOSAL_REFUSED';
  reason: ProposalRefusal;
  leaderHint: NodeId | null;
}> {
  constructor(
    readonly reason: ProposalRefusal,
    message: string,
    /** The leader as this node knows it, when there is one, so the caller can forward. */
    readonly leaderHint: NodeId | null = null,
  ) {
    super({ code: 'PROPOSAL_REFUSED', reason, leaderHint }, message);
    this.name = 'ProposalRefusedError';
  }
}

/** The driver broke the calling contract (see Ready in types.ts). A programming error. */
export class RaftUsageError extends RaftSignerError<{ code: 'RAFT_USAGE' }> {
  constructor(message: string) {
    super({ code: 'RAFT_USAGE' }, message);
    this.name = 'RaftUsageError';
  }
}

/** The log contradicts a Raft invariant (e.g. a committed entry would be overwritten). */
export class RaftInvariantError extends RaftSignerError<{ code: 'RAFT_INVARIANT' }> {
  constructor(message: string) {
    super({ code: 'RAFT_INVARIANT' }, message);
    this.name = 'RaftInvariantError';
  }
}
