// The safety properties of Raft (paper figure 3), checked incrementally as a simulation runs, so
// that a violation is reported at the event that caused it; and one of ours: only the store a
// membership names for a member counts (see ConfState in src/raft/types.ts).

import { Entry, MessageType, NodeId } from '../raft/types';
import type { CountedAnswer } from './observed_raft';

/** What the checker needs to see of a node's log. */
export interface LogView {
  snapshotIndex: number;
  lastIndex: number;
  term(index: number): number | undefined;
}

export class RaftInvariantChecker {
  readonly violations: string[] = [];
  /** Election safety: the leader of each term. */
  private readonly leaders = new Map<number, NodeId>();
  /** Log matching: for every (index, term) ever written, its content and its predecessor's term. */
  private readonly written = new Map<string, { content: string; prevTerm: number }>();
  /**
   * State machine safety: what was applied at each index, by anyone, and a bound on the term in
   * which it was committed: the lowest term any node was in when it applied it. (Knowledge of a
   * commit only flows from the committing leader to nodes in the same or later terms.)
   */
  private readonly appliedAt: { term: number; content: string; committedBy: number }[] = [];
  private maxApplied = 0;

  constructor(private readonly clock: () => number) {}

  private fail(message: string): void {
    this.violations.push(`t=${this.clock()}ms: ${message}`);
  }

  /** A node is leader of `term` with this log. Checks election safety and leader completeness. */
  onLeader(id: NodeId, term: number, log: LogView): void {
    const known = this.leaders.get(term);
    if (known === undefined) this.leaders.set(term, id);
    else if (known !== id) {
      this.fail(`election safety: two leaders in term ${term}: ${known} and ${id}`);
      return;
    }
    if (known !== undefined) return;
    // Leader completeness (paper 5.4): every entry committed in an earlier term is in the new
    // leader's log. A leader of an older term can still be elected late, on delayed votes, after
    // a newer term committed entries it lacks; that is allowed (it can commit nothing itself).
    for (let i = 1; i <= this.maxApplied; i++) {
      const committed = this.appliedAt[i];
      if (!committed || committed.committedBy >= term) continue;
      if (i <= log.snapshotIndex) continue;
      const t = log.term(i);
      if (t !== committed.term) {
        this.fail(
          `leader completeness: ${id} leads term ${term} but has ${t === undefined ? 'no entry' : `term ${t}`} at committed index ${i} (committed term ${committed.term})`,
        );
        return;
      }
    }
  }

  /** A node writes entries to its log; `prevTerm` is its term at entries[0].index - 1. */
  onEntriesWritten(id: NodeId, entries: Entry[], prevTerm: number): void {
    let prev = prevTerm;
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const content = entryContent(e);
      const seen = this.written.get(key);
      if (!seen) this.written.set(key, { content, prevTerm: prev });
      else if (seen.content !== content || seen.prevTerm !== prev) {
        this.fail(
          `log matching: ${id} wrote index ${e.index} term ${e.term} with ${seen.content !== content ? 'other content' : `predecessor term ${prev} instead of ${seen.prevTerm}`}`,
        );
      }
      prev = e.term;
    }
  }

  /**
   * A node in term `nodeTerm` applies an entry. Checks that every node applies the same entry at
   * each index.
   */
  onApplied(id: NodeId, e: Entry, nodeTerm: number): void {
    const content = entryContent(e);
    const known = this.appliedAt[e.index];
    if (known && nodeTerm < known.committedBy) known.committedBy = nodeTerm;
    if (!known) {
      this.appliedAt[e.index] = { term: e.term, content, committedBy: nodeTerm };
      if (e.index > this.maxApplied) this.maxApplied = e.index;
    } else if (known.term !== e.term || known.content !== content) {
      this.fail(
        `state machine safety: ${id} applied term ${e.term} "${content.slice(0, 40)}" at index ${e.index}, where term ${known.term} "${known.content.slice(0, 40)}" was applied before`,
      );
    }
  }

  /**
   * A candidate or leader counted an answer (it changed its tally or the sender's match index;
   * observed_raft.ts). Incarnations: it must come from the store the receiver's configuration
   * names for the sender. A vote, pre-vote or acknowledgement from any other store (a disk that
   * was lost or replaced, or a copy) comes from a store that never made the promises the old one
   * made, and counting it can elect a node that lacks committed entries.
   */
  onCounted(a: CountedAnswer): void {
    if (a.senderIncarnation === a.namedIncarnation) return;
    const what = a.effect === 'tally' ? `${answerName(a.type)} (its tally changed)` : `${answerName(a.type)} (its match index for ${a.from} changed)`;
    this.fail(
      `incarnations: ${a.receiver} (${a.role}, term ${a.term}) counted ${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what} from ${a.from}'s store ${a.senderIncarnation || "''"} ` +
        `where its configuration names ${a.namedIncarnation || "''"}`,
    );
  }

  /** The term applied at `index` by anyone, if any. */
  committedTerm(index: number): number | undefined {
    return this.appliedAt[index]?.term;
  }

  highestCommitted(): number {
    return this.maxApplied;
  }
}

function answerName(t: MessageType): string {
  switch (t) {
    case MessageType.VoteResponse:
      return 'vote';
    case MessageType.PreVoteResponse:
      return 'pre-vote';
    case MessageType.AppendResponse:
      return 'append acknowledgement';
    case MessageType.HeartbeatResponse:
      return 'heartbeat answer';
    default:
      return `message of type ${t}`;
  }
}

function entryContent(e: Entry): string {
  return `${e.type}:${Buffer.from(e.data).toString('latin1')}`;
}
