// The core as the simulator runs it: the real Raft, unchanged, with a window on which answers it
// COUNTED. For each vote, pre-vote, append or heartbeat answer it steps as candidate or leader,
// it compares the campaign's tally and the sender's match index before and after the step: an
// answer that changed either was counted, and the checker (raft_invariants.ts, onCounted) is told
// who sent it from which store (the message's incarnation) and which store the receiver's
// configuration named for the sender at that moment. The rule under test is raft.ts's
// `countable()`; this observes its effect from the outside, so a core that counts a store the
// membership does not name is caught by what it does, not by asking it.
//
// `CountsAnyStoreRaft` is the deliberately broken core (`--broken count-any-store`): the same with
// `countable()` always true, what the core did before members were named with their store.

import { Raft } from '../raft/raft';
import { Incarnation, incarnationOf, Message, MessageType, NodeId, Role } from '../raft/types';

/** An answer that changed a candidate's tally or a leader's match index. */
export interface CountedAnswer {
  receiver: NodeId;
  /** The receiver's role and term when it stepped the answer. */
  role: Role;
  term: number;
  type: MessageType;
  from: NodeId;
  /** The store the answer came from (Message.incarnation). */
  senderIncarnation: Incarnation;
  /** The store the receiver's configuration named for the sender when it counted the answer. */
  namedIncarnation: Incarnation;
  /** What it changed: the campaign's tally, or the sender's match index. */
  effect: 'tally' | 'match';
}

export interface AnswerObserver {
  /** An answer changed a tally or a match index. */
  counted(a: CountedAnswer): void;
  /**
   * An answer from a member's store that the configuration does not name reached a candidate or
   * leader and changed nothing: the rule did its work (counted only to show the runs exercise it).
   */
  ignored(): void;
}

function isAnswer(t: MessageType): boolean {
  return t === MessageType.VoteResponse || t === MessageType.PreVoteResponse || t === MessageType.AppendResponse || t === MessageType.HeartbeatResponse;
}

export class ObservedRaft extends Raft {
  observer: AnswerObserver | null = null;

  override step(m: Message): void {
    const observer = this.observer;
    const role = this.role;
    const campaigning = role === Role.PreCandidate || role === Role.Candidate;
    if (!observer || !isAnswer(m.type) || !(campaigning || role === Role.Leader)) {
      super.step(m);
      return;
    }
    const conf = this.confState; // replaced, never mutated, when the membership changes
    const term = this.term;
    const vote = this.votes.get(m.from);
    const pr = this.progress.get(m.from);
    const match = pr?.match;
    super.step(m);

    let effect: CountedAnswer['effect'] | null = null;
    if (m.type === MessageType.VoteResponse || m.type === MessageType.PreVoteResponse) {
      if (campaigning && conf.voters.includes(m.from)) {
        if (this.role === role && this.term === term) {
          if (this.votes.get(m.from) !== vote) effect = 'tally';
        } else if (
          // Only a counted answer ends a campaign in the same term (won or lost), or turns a
          // pre-campaign into a campaign; an answer with a higher term makes a follower of another term.
          (role === Role.PreCandidate && this.role === Role.Candidate) ||
          (role === Role.Candidate && this.role === Role.Leader) ||
          (this.role === Role.Follower && this.term === term)
        ) {
          effect = 'tally';
        }
      }
    } else if (role === Role.Leader && pr !== undefined && pr.match !== match) {
      effect = 'match';
    }

    const named = incarnationOf(conf, m.from);
    const sender = m.incarnation ?? '';
    if (effect !== null) {
      observer.counted({ receiver: this.id, role, term, type: m.type, from: m.from, senderIncarnation: sender, namedIncarnation: named, effect });
    } else if (sender !== named && (conf.voters.includes(m.from) || conf.learners.includes(m.from))) {
      observer.ignored();
    }
  }
}

/** BROKEN, tests and `--broken count-any-store` only: counts every answer, whatever store it comes from. */
export class CountsAnyStoreRaft extends ObservedRaft {
  protected override countable(_m: Message): boolean {
    return true;
  }
}
