// The sign path as a node runs it: SignCoordinator, plus two things decided from outside it.
//
// 1. Only a voter signs. A learner (the passive standby of an active-passive setup), a node that
//    is joining and not yet added, and a node that was removed refuse every sign request at once.
//    Without this a learner would still take part: it knows the leader (from its appends), so
//    SignCoordinator would forward new requests there, and the leader would PROPOSE entries on
//    the learner's behalf; the learner would then release from its own applied record. That
//    would be safe (every release still comes from a committed, applied entry) but it is not what
//    a passive standby is for: its validator node must not drive the chain's signing, and a
//    standby must not be able to move a watermark. So a non-voter neither forwards nor proposes
//    nor releases. The leader enforces the same on its side: only voters may call Decide/Forward
//    (node_process.ts passes the voters as the Signer service's members), so an older learner
//    without this check is refused there too.
//    The refusal carries the reason 'no-leader' (the closest existing SignRefusalReason: this node
//    has no leader it may ask), with a message that says it is not a voter and how to promote it;
//    the metrics count it under the reason `not-a-voter`.
//
// 2. Every outcome is measured (result, refusal reason, latency) for the node's metrics, around
//    the whole path, so a request counts once whatever route it took.

import { performance } from 'node:perf_hooks';
import type { RaftNode } from './raft_node';
import { SignCoordinator, SignCoordinatorOptions } from '../signer/sign_coordinator';
import type { SignOutcome, SignRequest } from '../signer/sign_types';

/** The metrics label of a refusal by a node that is not a voter. */
export const NOT_A_VOTER_REASON = 'not-a-voter';

export interface MemberSignCoordinatorOptions extends SignCoordinatorOptions {
  /** Each answered request: its chain, outcome, seconds taken, and the label of a not-a-voter refusal. */
  onOutcome?: (chainId: string, outcome: SignOutcome, seconds: number, notAVoter: boolean) => void;
}

export class MemberSignCoordinator extends SignCoordinator {
  private readonly raftNode: RaftNode;
  private readonly onOutcome: MemberSignCoordinatorOptions['onOutcome'];

  constructor(options: MemberSignCoordinatorOptions) {
    super(options);
    this.raftNode = options.node;
    this.onOutcome = options.onOutcome;
  }

  override async sign(request: SignRequest, timeoutMs?: number): Promise<SignOutcome> {
    const started = performance.now();
    const refusal = this.notAVoterRefusal();
    const outcome = refusal ?? (await super.sign(request, timeoutMs));
    this.onOutcome?.(request.chainId, outcome, (performance.now() - started) / 1000, refusal !== null);
    return outcome;
  }

  /** Null for a voter; otherwise the refusal, saying what this node is and what to do. */
  notAVoterRefusal(): SignOutcome | null {
    const status = this.raftNode.status();
    const id = this.raftNode.id;
    if (status.confState.voters.includes(id) && status.incarnationMatches) return null;
    const what = !status.incarnationMatches && status.confState.voters.includes(id)
      ? `node ${id} runs on a store the cluster does not know (its data was lost or replaced): it signs nothing until ` +
        `it is removed and added again as a learner under this store, then promoted`
      : status.isLearner
      ? `node ${id} is a learner (passive standby): it signs nothing until promoted (raft-signer cluster promote --id ${id})`
      : `node ${id} is not a voting member of the cluster (not yet added, or removed): it signs nothing`;
    return { kind: 'refused', reason: 'no-leader', message: what };
  }
}
