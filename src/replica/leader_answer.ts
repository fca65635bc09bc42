// The leader's answer to "decide this request": where its fate is recorded in the log. It says
// nothing a follower releases on its own say-so: the follower releases only from its own applied
// decision for that place (release_rule.ts).

import type { NodeId } from '../raft/types';
import type { SignOutcome, SignRefusalReason, SignRequest } from '../cometbft/sign_types';

export type LeaderAnswer =
  /**
   * Decided by the entry at `index` (term `term`), at `position` among its requests; position -1:
   * an identical request was already committed and the record written at `index` holds it.
   */
  | { kind: 'decided'; index: number; term: number; position: number }
  | { kind: 'refused'; reason: SignRefusalReason; message: string }
  | { kind: 'not-leader'; leaderHint: NodeId | null }
  /**
   * BROKEN variants only (release_rule.ts BrokenRelease): the leader's own outcome, for the
   * receiving node to release on the leader's word. The Signer service never sends it.
   */
  | { kind: 'broken-outcome'; outcome: SignOutcome };

/** SignForwarder (host.ts) in promise form, as the node process's gRPC client implements it. */
export interface LeaderForwarder {
  forward(leader: NodeId, request: SignRequest, timeoutMs: number): Promise<LeaderAnswer>;
}
