// Errors the core reports to its driver. Each says why, so that the signer can pass a reason the
// operator can act on ("not the leader, the leader is node2") rather than a bare failure.

import { NodeId } from './types';

export type ProposalRefusal =
  | 'not-leader'
  | 'transfer-in-progress'
  | 'conf-change-pending'
  | 'term-not-committed'
  | 'invalid-conf-change'
  | 'learner-not-caught-up';

export class ProposalRefusedError extends Error {
  constructor(
    readonly reason: ProposalRefusal,
    message: string,
    /** The leader as this node knows it, when there is one, so the caller can forward. */
    readonly leaderHint: NodeId | null = null,
  ) {
    super(message);
    this.name = 'ProposalRefusedError';
  }
}

/** The driver broke the calling contract (see Ready in types.ts). A programming error. */
export class RaftUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftUsageError';
  }
}

/** The log contradicts a Raft invariant (e.g. a committed entry would be overwritten). */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftInvariantError';
  }
}
