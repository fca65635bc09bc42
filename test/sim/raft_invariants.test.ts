// The checker itself: it must flag what breaks Raft's properties and nothing that Raft allows.

import { EntryType, MessageType, Role } from '../../src/raft/types';
import { RaftInvariantChecker } from '../../src/sim/raft_invariants';

const entry = (index: number, term: number, data = `d${index}`) => ({ index, term, type: EntryType.Normal, data: Buffer.from(data) });
const logOf = (terms: number[]) => ({ snapshotIndex: 0, lastIndex: terms.length, term: (i: number) => (i === 0 ? 0 : terms[i - 1]) });

describe('RaftInvariantChecker', () => {
  test('two leaders in one term is an election safety violation', () => {
    const c = new RaftInvariantChecker(() => 0);
    c.onLeader('a', 3, logOf([1]));
    c.onLeader('a', 3, logOf([1]));
    expect(c.violations).toEqual([]);
    c.onLeader('b', 3, logOf([1]));
    expect(c.violations[0]).toMatch(/two leaders in term 3: a and b/);
  });

  test('a leader of a later term missing a committed entry is a completeness violation', () => {
    const c = new RaftInvariantChecker(() => 0);
    c.onApplied('a', entry(2, 3), 3);
    c.onLeader('b', 4, logOf([1, 2]));
    expect(c.violations[0]).toMatch(/leader completeness: b leads term 4 but has term 2 at committed index 2/);
  });

  test('a leader of an older term elected late on delayed votes may lack a newer commit', () => {
    // Term 3 committed index 2; votes granted in term 2 long ago then arrive and elect n3 in term 2.
    const c = new RaftInvariantChecker(() => 0);
    c.onApplied('a', entry(2, 3), 3);
    c.onLeader('n3', 2, logOf([1, 2]));
    expect(c.violations).toEqual([]);
  });

  test('different entries applied at one index is a state machine safety violation', () => {
    const c = new RaftInvariantChecker(() => 0);
    c.onApplied('a', entry(2, 3, 'x'), 3);
    c.onApplied('b', entry(2, 3, 'x'), 4);
    expect(c.violations).toEqual([]);
    c.onApplied('c', entry(2, 3, 'y'), 4);
    expect(c.violations[0]).toMatch(/state machine safety: c applied/);
  });

  test('the same index and term with other content or another predecessor is a log matching violation', () => {
    const c = new RaftInvariantChecker(() => 0);
    c.onEntriesWritten('a', [entry(2, 2), entry(3, 2)], 1);
    c.onEntriesWritten('b', [entry(3, 2)], 2);
    expect(c.violations).toEqual([]);
    c.onEntriesWritten('c', [entry(3, 2)], 1);
    expect(c.violations[0]).toMatch(/log matching: c wrote index 3 term 2 with predecessor term 1 instead of 2/);
  });

  test('an answer counted from a store the configuration does not name is an incarnation violation', () => {
    const c = new RaftInvariantChecker(() => 0);
    const answer = { receiver: 'c', role: Role.PreCandidate, term: 4, type: MessageType.PreVoteResponse, from: 'b', effect: 'tally' as const };
    c.onCounted({ ...answer, senderIncarnation: 'b#1', namedIncarnation: 'b#1' });
    c.onCounted({ ...answer, type: MessageType.AppendResponse, role: Role.Leader, effect: 'match', senderIncarnation: 'b#2', namedIncarnation: 'b#2' });
    expect(c.violations).toEqual([]);
    c.onCounted({ ...answer, senderIncarnation: 'b#2', namedIncarnation: 'b#1' });
    expect(c.violations[0]).toMatch(/incarnations: c \(pre-candidate, term 4\) counted a pre-vote \(its tally changed\) from b's store b#2 where its configuration names b#1/);
    c.onCounted({ ...answer, type: MessageType.AppendResponse, role: Role.Leader, effect: 'match', senderIncarnation: 'b#2', namedIncarnation: '' });
    expect(c.violations[1]).toMatch(/counted an append acknowledgement \(its match index for b changed\) from b's store b#2 where its configuration names ''/);
  });
});
