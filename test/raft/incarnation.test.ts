// Members are named with their store (incarnation): a node whose disk was lost or replaced answers
// from a new store, and nothing it says counts until that store is added as a learner and
// promoted. These are the core's halves of the "lost disk votes as if it had never acknowledged
// anything" double sign: a lagging node must not win an election with a new store's vote.

import { Raft } from '../../src/raft/raft';
import type { RaftLog } from '../../src/raft/raft_log';
import { allMessages, incarnationOf, Message, MessageType, Role } from '../../src/raft/types';
import { ClusterHarness } from './cluster_harness';

const ids3 = ['a', 'b', 'c'];

/** The same core with the incarnation check switched off: what the code did before. */
class CountsAnyStore extends Raft {
  protected override countable(_m: Message): boolean {
    return true;
  }
}

/**
 * The scenario in the core: c lags; a and b commit x1 (a signing decision); b's disk is
 * lost and b restarts on a new store; a crashes; c campaigns. Returns the harness after c's
 * campaign.
 */
function lostDiskScenario(factory?: (c: ConstructorParameters<typeof Raft>[0], p?: ConstructorParameters<typeof Raft>[1]) => Raft): ClusterHarness {
  const h = new ClusterHarness(ids3, {}, factory, true);
  h.campaign('a');
  h.tickAll(2);
  h.isolate('c');
  h.propose('a', 'x1');
  expect(h.node('a').appliedData).toEqual(['x1']);
  expect(h.raft('c').log.lastIndex()).toBeLessThan(h.raft('a').log.lastIndex());
  h.wipe('b');
  h.crash('a');
  h.clearFilters();
  h.campaign('c');
  return h;
}

describe('incarnations: only the store the membership names counts', () => {
  test('the founding entry names every founder with its store, and each node knows whether it is the one named', () => {
    const h = new ClusterHarness(ids3, {}, undefined, true);
    const cs = h.raft('a').confState;
    expect(cs.voters).toEqual(ids3);
    for (const id of ids3) expect(incarnationOf(cs, id)).toBe(h.node(id).incarnation);
    expect(h.raft('b').status().incarnationMatches).toBe(true);
  });

  test("a lagging node cannot win an election with the vote of a store that lost what it acknowledged", () => {
    const h = lostDiskScenario();
    // b's new store grants the pre-vote (its empty log is behind c's), but c does not count it.
    expect(h.sent.some((m) => m.type === MessageType.PreVoteResponse && m.from === 'b' && m.to === 'c' && !m.reject)).toBe(true);
    expect(h.raft('c').role).not.toBe(Role.Leader);
    h.tickAll(40);
    expect(h.leaders()).toEqual([]);
    expect(h.checker.violations).toEqual([]);
  });

  test('the same scenario with the check switched off elects the lagging node, which lacks the committed entry', () => {
    const h = lostDiskScenario((c, p) => new CountsAnyStore(c, p));
    expect(h.raft('c').role).toBe(Role.Leader);
    h.propose('c', 'y1');
    // c committed at x1's index without x1: two different decisions at one index.
    expect(h.node('c').appliedData).toEqual(['y1']);
  });

  test("a leader does not commit on a new store's acknowledgements, and its check-quorum does not count them", () => {
    const h = new ClusterHarness(ids3, {}, undefined, true);
    h.campaign('a');
    h.tickAll(2);
    h.isolate('c');
    h.wipe('b');
    h.tickAll(5);
    // b(new) replicates what a sends (acknowledgements go back), but nothing commits with it.
    h.raft('a').propose(Buffer.from('x1'));
    h.stabilize();
    expect(h.sent.some((m) => m.type === MessageType.AppendResponse && m.from === 'b' && m.incarnation === h.node('b').incarnation)).toBe(true);
    expect(h.node('a').appliedData).toEqual([]);
    // After an election timeout without a counted answer, a steps down (check-quorum).
    h.tickAll(25);
    expect(h.raft('a').role).not.toBe(Role.Leader);
  });

  test('a node whose store is not the one named is not replicated to, and never campaigns, even given the whole log', () => {
    const h = new ClusterHarness(ids3, {}, undefined, true);
    h.campaign('a');
    h.tickAll(2);
    h.propose('a', 'x1');
    h.wipe('b');
    h.tickAll(5);
    const a = h.raft('a');
    const b = h.raft('b');
    // The leader ignores what the new store answers, so it is not caught up either.
    expect(b.log.lastIndex()).toBe(0);
    // Even with everything handed to it (a snapshot of a's state), it is not the voter named.
    a.compact(a.log.applied, Buffer.from('[]'));
    h.processReadies();
    b.step({
      type: MessageType.InstallSnapshot, from: 'a', to: 'b', term: a.term, logTerm: 0, index: 0, entries: [], commit: 0,
      reject: false, rejectHint: 0, snapshot: a.log.snapshot,
    });
    h.processReadies();
    expect(b.log.lastIndex()).toBe(a.log.lastIndex());
    expect(b.confState.voters).toEqual(ids3);
    expect(b.status().incarnationMatches).toBe(false);
    h.crash('a');
    for (let i = 0; i < 60; i++) b.tick();
    h.processReadies();
    expect(h.sent.some((m) => m.from === 'b' && (m.type === MessageType.PreVote || m.type === MessageType.Vote))).toBe(false);
  });

  test('remove, add-learner under the new store, promote: the new store counts, the old one never again', () => {
    const h = new ClusterHarness(ids3, {}, undefined, true);
    h.campaign('a');
    h.tickAll(2);
    const old = h.node('b').incarnation;
    const fresh = h.wipe('b');
    h.raft('a').proposeConfChange({ type: 'remove', node: 'b' });
    h.stabilize();
    h.tickAll(2);
    expect(h.raft('a').confState.voters).toEqual(['a', 'c']);
    h.raft('a').proposeConfChange({ type: 'addLearner', node: 'b', incarnation: fresh });
    h.stabilize();
    h.tickAll(3);
    expect(incarnationOf(h.raft('a').confState, 'b')).toBe(fresh);
    expect(h.raft('b').status().incarnationMatches).toBe(true);
    h.raft('a').proposeConfChange({ type: 'promote', node: 'b' });
    h.stabilize();
    h.tickAll(2);
    expect(h.raft('a').confState.voters).toEqual(ids3);
    expect(incarnationOf(h.raft('a').confState, 'b')).toBe(fresh);
    // With c cut off, a and the new b commit.
    h.isolate('c');
    h.propose('a', 'x2');
    expect(h.node('a').appliedData).toEqual(['x2']);
    // An answer from the old store (a copy of it put back somewhere) is not counted.
    const stale: Message = {
      type: MessageType.VoteResponse, from: 'b', to: 'c', term: h.raft('c').term + 1, logTerm: 0, index: 0,
      entries: [], commit: 0, reject: false, rejectHint: 0, incarnation: old,
    };
    h.clearFilters();
    h.raft('c').campaign();
    h.raft('c').step({ ...stale, term: h.raft('c').term });
    expect(h.raft('c').role).not.toBe(Role.Leader);
    expect(h.checker.violations).toEqual([]);
  });

  test('adding a learner under the id of a voter with another store is refused: remove it first', () => {
    const h = new ClusterHarness(ids3, {}, undefined, true);
    h.campaign('a');
    h.tickAll(2);
    expect(() => h.raft('a').proposeConfChange({ type: 'addLearner', node: 'b', incarnation: 'b-store99' })).toThrow(/another store.*remove it first/);
  });
});

describe('InstallSnapshot for an entry the follower already holds', () => {
  test('is answered with the commit index, not the last index of a suffix the leader may not have (as etcd-io/raft)', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    h.tickAll(2);
    h.isolate('c');
    h.propose('a', 'x1');
    h.propose('a', 'x2');
    const a0 = h.raft('a');
    const c = h.raft('c');
    // c holds the leader's entries (not knowing they are committed), then two more of its own that
    // no leader has.
    // (planted in its log directly: no leader sends this)
    const cLog = c.log as RaftLog;
    cLog.append((a0.log as RaftLog).slice(c.log.lastIndex() + 1, a0.log.lastIndex() + 1, 100, 1 << 20));
    cLog.append([
      { term: a0.term, index: c.log.lastIndex() + 1, type: 0, data: Buffer.from('stale1') },
      { term: a0.term, index: c.log.lastIndex() + 2, type: 0, data: Buffer.from('stale2') },
    ]);
    expect(c.log.commit).toBeLessThan(a0.log.commit);
    const snapIndex = h.raft('a').log.commit;
    const a = h.raft('a');
    c.step({
      type: MessageType.InstallSnapshot, from: 'a', to: 'c', term: a.term, logTerm: 0, index: 0, entries: [], commit: 0,
      reject: false, rejectHint: 0,
      snapshot: { metadata: { index: snapIndex, term: a.log.term(snapIndex) as number, confState: { voters: ids3, learners: [] } }, data: Buffer.from('[]') },
    });
    const rd = c.ready();
    const answer = allMessages(rd).find((m) => m.type === MessageType.AppendResponse && m.to === 'a');
    c.advance();
    expect(answer?.index).toBe(snapIndex);
    expect(c.log.lastIndex()).toBe(snapIndex + 2);
  });
});

describe('only a voter leads or campaigns', () => {
  function withLearner(): ClusterHarness {
    const h = new ClusterHarness(ids3, {}, undefined, true);
    h.campaign('a');
    h.tickAll(2);
    const l = h.add('l', undefined, h.newIncarnation('l'));
    h.raft('a').proposeConfChange({ type: 'addLearner', node: 'l', incarnation: l.incarnation });
    h.stabilize();
    h.tickAll(3);
    expect(h.raft('b').confState.learners).toEqual(['l']);
    return h;
  }

  const forged = (type: MessageType, from: string, to: string, over: Partial<Message> = {}): Message => ({
    type, from, to, term: 1000, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...over,
  });

  test("a learner's snapshot, appends, heartbeats and transfer votes are ignored by a voter", () => {
    const h = withLearner();
    const b = h.raft('b');
    const before = { term: b.term, last: b.log.lastIndex(), leader: b.leader };
    // A one-node cluster of b, as a snapshot far ahead: b would lead alone and sign on its own.
    b.step(forged(MessageType.InstallSnapshot, 'l', 'b', {
      snapshot: { metadata: { index: 1000, term: 1000, confState: { voters: ['b'], learners: [], incarnations: { b: h.node('b').incarnation } } }, data: Buffer.from('[]') },
    }));
    b.step(forged(MessageType.Append, 'l', 'b', { index: b.log.lastIndex(), logTerm: b.log.lastTerm(), commit: 999 }));
    b.step(forged(MessageType.Heartbeat, 'l', 'b', { commit: 999 }));
    b.step(forged(MessageType.Vote, 'l', 'b', { index: 10_000, logTerm: 999, transfer: true }));
    b.step(forged(MessageType.TimeoutNow, 'l', 'b', { term: b.term }));
    h.processReadies();
    expect({ term: b.term, last: b.log.lastIndex(), leader: b.leader }).toEqual(before);
    expect(b.role).toBe(Role.Follower);
    expect(h.leaders()).toEqual(['a']);
  });

  test('a store that holds nothing is never made a voter by a snapshot or a first append; as a learner it is', () => {
    const h = new ClusterHarness(ids3, {}, undefined, true);
    h.campaign('a');
    h.tickAll(2);
    const n = h.add('n', undefined, h.newIncarnation('n'));
    const cs = { voters: ['a', 'b', 'c', 'n'], learners: [], incarnations: { ...h.raft('a').confState.incarnations, n: n.incarnation } };
    n.raft.step(forged(MessageType.InstallSnapshot, 'a', 'n', { snapshot: { metadata: { index: 50, term: 9, confState: cs }, data: Buffer.from('[]') } }));
    expect(n.raft.log.lastIndex()).toBe(0);
    const boot = { term: 1, index: 1, type: 1, data: Buffer.from(JSON.stringify({ type: 'bootstrap', voters: ['n'], incarnations: { n: n.incarnation } })) };
    n.raft.step(forged(MessageType.Append, 'a', 'n', { entries: [boot], commit: 1 }));
    expect(n.raft.log.lastIndex()).toBe(0);
    // The real path: the leader adds it as a learner under its store; it catches up.
    h.raft('a').proposeConfChange({ type: 'addLearner', node: 'n', incarnation: n.incarnation });
    h.stabilize();
    h.tickAll(3);
    expect(n.raft.log.lastIndex()).toBe(h.raft('a').log.lastIndex());
    expect(n.raft.status().isLearner).toBe(true);
  });
});
