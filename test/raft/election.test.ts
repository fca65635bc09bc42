// Elections after the Raft paper (5.2, 5.4.1) and the thesis' pre-vote, check-quorum and leader
// stickiness (4.2.3, 6.2, 9.6).

import { Raft } from '../../src/raft/raft';
import { allMessages, MessageType, Role } from '../../src/raft/types';
import { ClusterHarness, stateWithLog } from './cluster_harness';

const ids3 = ['a', 'b', 'c'];

describe('leader election', () => {
  test('a campaign wins a majority and every node follows the new leader in one term', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    expect(h.leaders()).toEqual(['a']);
    for (const id of ['b', 'c']) {
      expect(h.raft(id).role).toBe(Role.Follower);
      expect(h.raft(id).leader).toBe('a');
      expect(h.raft(id).term).toBe(h.raft('a').term);
    }
    // The new leader's empty entry commits on all three.
    h.tickAll(2);
    for (const id of ids3) expect(h.raft(id).log.commit).toBe(2);
  });

  test('a follower campaigns by itself once its randomized election timeout passes', () => {
    const h = new ClusterHarness(ids3);
    for (let i = 0; i < 25 && h.leaders().length === 0; i++) h.tickAll(1);
    expect(h.leaders()).toHaveLength(1);
  });

  test('a split vote elects nobody in that term, and a later election resolves it', () => {
    const h = new ClusterHarness(['a', 'b', 'c', 'd']);
    // a and b both get past pre-vote, then split the real vote two against two.
    h.raft('a').campaign();
    h.raft('b').campaign();
    h.addFilter((m) => !(m.type === MessageType.Vote && ((m.from === 'a' && m.to === 'd') || (m.from === 'b' && m.to === 'c'))));
    h.stabilize();
    h.clearFilters();
    expect(h.leaders()).toEqual([]);
    for (let i = 0; i < 60 && h.leaders().length === 0; i++) h.tickAll(1);
    expect(h.leaders()).toHaveLength(1);
    expect(h.checker.violations).toEqual([]);
  });

  test('a node votes at most once per term and the vote is in the Ready that carries the grant', () => {
    const h = new ClusterHarness(ids3);
    h.raft('a').campaign();
    h.processReadies(); // a's pre-votes go out
    for (const m of h.pending.splice(0)) h.raft(m.to).step(m);
    h.processReadies(); // pre-vote grants
    for (const m of h.pending.splice(0)) h.raft(m.to).step(m);
    h.processReadies(); // a becomes candidate, sends votes
    const votes = h.pending.splice(0);
    expect(votes.every((m) => m.type === MessageType.Vote)).toBe(true);
    const toB = votes.find((m) => m.to === 'b')!;
    h.raft('b').step(toB);
    const rd = h.raft('b').ready();
    const grant = allMessages(rd).find((m) => m.type === MessageType.VoteResponse)!;
    expect(grant.reject).toBe(false);
    expect(rd.hardState?.vote).toBe('a');
    expect(rd.mustSync).toBe(true);
    h.raft('b').advance();
    // A competing candidate in the same term is refused.
    h.raft('b').step({ ...toB, from: 'c' });
    const rd2 = h.raft('b').ready();
    expect(allMessages(rd2).find((m) => m.type === MessageType.VoteResponse)?.reject).toBe(true);
    h.raft('b').advance();
  });

  test('a candidate whose log is behind cannot win (election restriction, paper 5.4.1)', () => {
    const h = new ClusterHarness([]);
    h.add('a', stateWithLog(ids3, [2], 2)); // last entry term 2
    h.add('b', stateWithLog(ids3, [2, 2], 2));
    h.add('c', stateWithLog(ids3, [2, 2], 2));
    h.campaign('a');
    expect(h.raft('a').role).not.toBe(Role.Leader);
    h.campaign('b');
    expect(h.leaders()).toEqual(['b']);
  });

  test('pre-vote: a node cut off from the rest does not raise its term, and does not disturb the leader when it returns', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    const term = h.raft('a').term;
    h.isolate('c');
    h.tick('c', 100);
    expect(h.raft('c').term).toBe(term);
    expect(h.raft('c').role).toBe(Role.PreCandidate);
    h.clearFilters();
    h.tickAll(3);
    expect(h.leaders()).toEqual(['a']);
    expect(h.raft('a').term).toBe(term);
    expect(h.raft('c').role).toBe(Role.Follower);
  });

  test('leader stickiness: a follower that hears from its leader ignores a higher-term vote request', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    const b = h.raft('b');
    const term = b.term;
    b.step({ type: MessageType.Vote, from: 'c', to: 'b', term: term + 5, logTerm: 99, index: 99, entries: [], commit: 0, reject: false, rejectHint: 0 });
    expect(b.term).toBe(term);
    expect(b.vote).not.toBe('c');
    // ... unless the campaign comes from a leadership transfer.
    b.step({ type: MessageType.Vote, from: 'c', to: 'b', term: term + 5, logTerm: 99, index: 99, entries: [], commit: 0, reject: false, rejectHint: 0, transfer: true });
    expect(b.term).toBe(term + 5);
    expect(b.vote).toBe('c');
  });

  describe('a leader reported down (its port refuses connections)', () => {
    test('the survivors forget it and elect a new leader within a few ticks, staggered by rank', () => {
      const h = new ClusterHarness(['a', 'b', 'c', 'd', 'e']);
      h.campaign('a');
      const term = h.raft('a').term;
      h.crash('a');
      for (const id of ['b', 'c', 'd', 'e']) h.raft(id).reportPeerDown('a');
      for (const id of ['b', 'c', 'd', 'e']) expect(h.raft(id).leader).toBeNull();
      // b ranks first among the survivors: one tick, and it campaigns; the others grant at once.
      h.tickAll(1);
      expect(h.leaders()).toEqual(['b']);
      expect(h.raft('b').term).toBe(term + 1);
      // Nobody else campaigned: one new term, no split.
      h.tickAll(5);
      expect(h.leaders()).toEqual(['b']);
      expect(h.raft('b').term).toBe(term + 1);
      expect(h.checker.violations).toEqual([]);
    });

    test('without the report the survivors wait out an election timeout (the lease)', () => {
      const h = new ClusterHarness(ids3);
      h.campaign('a');
      h.crash('a');
      h.tickAll(5);
      expect(h.leaders()).toEqual([]);
    });

    test('a follower that did not see the refusal keeps the live leader\'s lease: no disruption', () => {
      const h = new ClusterHarness(ids3);
      h.campaign('a');
      const term = h.raft('a').term;
      // A false alarm at b only (a is alive): b campaigns, c refuses its pre-vote, a stays leader.
      h.raft('b').reportPeerDown('a');
      h.tickAll(3);
      expect(h.leaders()).toEqual(['a']);
      expect(h.raft('a').term).toBe(term);
      expect(h.raft('b').leader).toBe('a');
    });

    test('a report about a peer that is not the leader, or to a leader, changes nothing', () => {
      const h = new ClusterHarness(ids3);
      h.campaign('a');
      h.raft('b').reportPeerDown('c');
      expect(h.raft('b').leader).toBe('a');
      h.raft('a').reportPeerDown('b');
      expect(h.raft('a').role).toBe(Role.Leader);
      h.tickAll(5);
      expect(h.leaders()).toEqual(['a']);
    });
  });

  test('check-quorum: a leader that hears from no majority for an election timeout steps down', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    h.isolate('a');
    for (let i = 0; i < 25; i++) h.tick('a');
    expect(h.raft('a').role).toBe(Role.Follower);
    expect(h.raft('a').leader).toBeNull();
  });

  test('check-quorum: a leader with a live majority stays leader', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    h.isolate('c');
    h.tickAll(40);
    expect(h.raft('a').role).toBe(Role.Leader);
  });

  test('a stale leader steps down when it hears a higher term, and its uncommitted entries are replaced', () => {
    const h = new ClusterHarness(['a', 'b', 'c', 'd', 'e']);
    h.campaign('a');
    h.tickAll(2);
    const oldTerm = h.raft('a').term;
    // a is cut off; it accepts a proposal it can never commit.
    h.isolate('a');
    h.raft('a').propose(Buffer.from('lost'));
    h.stabilize();
    expect(h.raft('a').log.commit).toBeLessThan(h.raft('a').log.lastIndex());
    // The majority side elects a new leader once its election timeout passes.
    let newLeader: string | undefined;
    for (let i = 0; i < 60 && !newLeader; i++) {
      h.tickAll(1);
      newLeader = h.leaders().find((id) => id !== 'a');
    }
    expect(newLeader).toBeDefined();
    h.propose(newLeader!, 'kept');
    h.clearFilters();
    h.tickAll(5);
    expect(h.raft('a').role).toBe(Role.Follower);
    expect(h.raft('a').term).toBeGreaterThan(oldTerm);
    expect(h.node('a').appliedData).toEqual(['kept']);
    expect(h.logTerms('a')).toEqual(h.logTerms(newLeader!));
    expect(h.checker.violations).toEqual([]);
  });

  test('a learner or a removed node never campaigns', () => {
    const h = new ClusterHarness(ids3);
    const outsider = h.add('x'); // empty: not in any membership it knows
    for (let i = 0; i < 50; i++) outsider.raft.tick();
    expect(outsider.raft.role).toBe(Role.Follower);
    expect(outsider.raft.term).toBe(0);
  });

  test('the constructor refuses nonsense timing', () => {
    expect(() => new Raft({ id: 'a', heartbeatTicks: 5, electionTicks: 5, random: { nextInt: () => 0 } })).toThrow(/electionTicks/);
  });
});
