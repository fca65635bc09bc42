// Leadership transfer (thesis 3.10), learners and single-server membership changes (thesis 4.1),
// and snapshots with log compaction (thesis 5).

import { Raft } from '../../src/raft/raft';
import { MessageType, ProgressState, Role } from '../../src/raft/types';
import { ClusterHarness } from './cluster_harness';

const ids3 = ['a', 'b', 'c'];

function elected(): ClusterHarness {
  const h = new ClusterHarness(ids3);
  h.campaign('a');
  h.tickAll(2);
  return h;
}

describe('leadership transfer', () => {
  test('an up-to-date follower takes over at once, in a new term', () => {
    const h = elected();
    const term = h.raft('a').term;
    h.raft('a').transferLeadership('b');
    h.stabilize();
    expect(h.leaders()).toEqual(['b']);
    expect(h.raft('b').term).toBe(term + 1);
    expect(h.sent.some((m) => m.type === MessageType.TimeoutNow && m.to === 'b')).toBe(true);
  });

  test('a lagging target is caught up first, then handed over', () => {
    const h = elected();
    h.isolate('c');
    h.propose('a', 'x1');
    h.propose('a', 'x2');
    h.clearFilters();
    h.raft('a').transferLeadership('c');
    h.stabilize();
    expect(h.leaders()).toEqual(['c']);
    expect(h.node('c').appliedData).toEqual(['x1', 'x2']);
  });

  test('proposals are refused with a reason while a transfer runs, and the transfer is abandoned after an election timeout', () => {
    const h = elected();
    h.isolate('c');
    h.raft('a').transferLeadership('c');
    h.stabilize();
    expect(() => h.raft('a').propose(Buffer.from('x'))).toThrow(expect.objectContaining({ reason: 'transfer-in-progress' }));
    for (let i = 0; i < 10; i++) {
      h.raft('a').tick();
      h.raft('b').tick();
      h.stabilize();
    }
    expect(h.raft('a').role).toBe(Role.Leader);
    expect(h.raft('a').transferee).toBeNull();
    expect(() => h.propose('a', 'after')).not.toThrow();
  });

  test('only a voter can be the target', () => {
    const h = elected();
    expect(() => h.raft('a').transferLeadership('zz')).toThrow(/not a voter/);
    expect(() => h.raft('b').transferLeadership('c')).toThrow(expect.objectContaining({ reason: 'not-leader' }));
  });
});

describe('learners and membership changes', () => {
  test('a learner replicates everything, never votes for a quorum, never campaigns, and counts once promoted', () => {
    const h = elected();
    h.propose('a', 'x1');
    h.add('d');
    h.raft('a').proposeConfChange({ type: 'addLearner', node: 'd' });
    h.stabilize();
    h.tickAll(3);
    expect(h.raft('a').confState).toEqual({ voters: ids3, learners: ['d'] });
    expect(h.node('d').appliedData).toEqual(['x1']);
    expect(h.raft('d').status().isLearner).toBe(true);
    // Quorum is still 2 of a, b, c: with b and c cut off, d's acknowledgement commits nothing.
    h.isolate('b');
    h.isolate('c');
    h.raft('a').propose(Buffer.from('x2'));
    h.stabilize();
    expect(h.node('a').appliedData).toEqual(['x1']);
    for (let i = 0; i < 40; i++) h.raft('d').tick();
    expect(h.raft('d').role).toBe(Role.Follower);
    h.clearFilters();
    h.tickAll(3);
    expect(h.node('a').appliedData).toEqual(['x1', 'x2']);
    h.raft('a').proposeConfChange({ type: 'promote', node: 'd' });
    h.stabilize();
    h.tickAll(2);
    expect(h.raft('a').confState).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    // Now 3 of 4 are needed: with c and d cut off, nothing commits.
    h.isolate('c');
    h.isolate('d');
    h.raft('a').propose(Buffer.from('x3'));
    h.stabilize();
    expect(h.node('a').appliedData).toEqual(['x1', 'x2']);
    expect(h.checker.violations).toEqual([]);
  });

  test('one change at a time: a second change waits until the first commits', () => {
    const h = elected();
    h.isolate('b');
    h.isolate('c');
    h.raft('a').proposeConfChange({ type: 'addLearner', node: 'd' });
    h.stabilize();
    expect(() => h.raft('a').proposeConfChange({ type: 'addLearner', node: 'e' })).toThrow(
      expect.objectContaining({ reason: 'conf-change-pending' }),
    );
  });

  test('a new leader makes no change before it has committed an entry of its own term', () => {
    const h = new ClusterHarness(ids3);
    h.addFilter((m) => m.type !== MessageType.AppendResponse); // the no-op stays unacknowledged
    h.campaign('a');
    expect(h.raft('a').role).toBe(Role.Leader);
    expect(() => h.raft('a').proposeConfChange({ type: 'addLearner', node: 'd' })).toThrow(
      expect.objectContaining({ reason: 'term-not-committed' }),
    );
    h.clearFilters();
    h.tickAll(2);
    expect(() => h.raft('a').proposeConfChange({ type: 'addLearner', node: 'd' })).not.toThrow();
  });

  test('nonsense changes are refused with the reason', () => {
    const h = elected();
    expect(() => h.raft('a').proposeConfChange({ type: 'addLearner', node: 'b' })).toThrow(/already a voter/);
    expect(() => h.raft('a').proposeConfChange({ type: 'promote', node: 'zz' })).toThrow(/not a learner/);
    expect(() => h.raft('a').proposeConfChange({ type: 'remove', node: 'zz' })).toThrow(/not a member/);
    expect(() => h.raft('a').proposeConfChange({ type: 'bootstrap', voters: ['x'] })).toThrow(/bootstrapped/);
  });

  test('a learner that is not replicating yet cannot be promoted', () => {
    const h = elected();
    h.raft('a').proposeConfChange({ type: 'addLearner', node: 'd' }); // d does not exist: never answers
    h.stabilize();
    h.tickAll(2);
    expect(() => h.raft('a').proposeConfChange({ type: 'promote', node: 'd' })).toThrow(
      expect.objectContaining({ reason: 'learner-not-caught-up' }),
    );
  });

  test('removing a voter shrinks the quorum; a removed leader steps down and the rest elect', () => {
    const h = elected();
    h.raft('a').proposeConfChange({ type: 'remove', node: 'c' });
    h.stabilize();
    h.tickAll(2);
    expect(h.raft('a').confState.voters).toEqual(['a', 'b']);
    h.crash('c');
    h.propose('a', 'x1');
    h.tickAll(1);
    expect(h.node('b').appliedData).toEqual(['x1']);
    h.raft('a').proposeConfChange({ type: 'remove', node: 'a' });
    h.stabilize();
    h.tickAll(1);
    expect(h.raft('a').role).toBe(Role.Follower);
    for (let i = 0; i < 40 && h.leaders().length === 0; i++) h.tickAll(1);
    expect(h.leaders()).toEqual(['b']);
    h.propose('b', 'x2');
    expect(h.node('b').appliedData).toEqual(['x1', 'x2']);
    expect(h.checker.violations).toEqual([]);
  });
});

describe('snapshots and compaction', () => {
  function compactAll(h: ClusterHarness): void {
    for (const n of h.nodes.values()) {
      if (!n.up) continue;
      n.raft.compact(n.raft.log.applied, Buffer.from(JSON.stringify(n.appliedData)));
      h.processReadies();
    }
  }

  test('compaction drops the log behind a snapshot and hands it to the driver to store, not to restore', () => {
    const h = elected();
    for (let i = 0; i < 5; i++) h.propose('a', `x${i}`);
    h.tickAll(1);
    const a = h.raft('a');
    a.compact(a.log.applied, Buffer.from('image'));
    const rd = a.ready();
    expect(rd.compaction?.metadata.index).toBe(a.log.applied);
    expect(rd.compaction?.metadata.confState.voters).toEqual(ids3);
    expect(rd.snapshot).toBeUndefined();
    expect(rd.logFirstIndex).toBe(a.log.applied + 1);
    expect(rd.mustSync).toBe(true);
    a.advance();
    expect(() => a.compact(a.log.applied + 1, Buffer.from(''))).toThrow(/only .* is applied/);
  });

  test('a follower behind the compacted log is sent the snapshot, restores it, and gets what follows', () => {
    const h = elected();
    h.isolate('c');
    for (let i = 0; i < 5; i++) h.propose('a', `x${i}`);
    compactAll(h);
    h.propose('a', 'after');
    h.clearFilters();
    h.tickAll(3);
    expect(h.sent.some((m) => m.type === MessageType.InstallSnapshot && m.to === 'c')).toBe(true);
    const restored = h.node('c').readies.find((r) => r.snapshot);
    expect(restored?.snapshot?.metadata.index).toBe(h.raft('a').log.snapshot.metadata.index);
    expect(h.node('c').appliedData).toEqual(['x0', 'x1', 'x2', 'x3', 'x4', 'after']);
    expect(h.raft('c').status().snapshotIndex).toBe(h.raft('a').log.snapshot.metadata.index);
    expect(h.checker.violations).toEqual([]);
  });

  test('a brand-new member joins by snapshot and learns the membership from it', () => {
    const h = elected();
    for (let i = 0; i < 3; i++) h.propose('a', `x${i}`);
    compactAll(h);
    h.add('d');
    h.raft('a').proposeConfChange({ type: 'addLearner', node: 'd' });
    h.stabilize();
    h.tickAll(3);
    expect(h.node('d').appliedData).toEqual(['x0', 'x1', 'x2']);
    expect(h.raft('d').confState).toEqual({ voters: ids3, learners: ['d'] });
    expect(h.raft('a').status().progress.find((p) => p.id === 'd')?.state).toBe(ProgressState.Replicate);
  });

  test('a follower that already holds the snapshot index keeps the entries after it', () => {
    const h = elected();
    for (let i = 0; i < 3; i++) h.propose('a', `x${i}`);
    const c = h.raft('c');
    const lastBefore = c.log.lastIndex();
    const snap = h.raft('a').log;
    const snapIndex = snap.commit - 1;
    c.step({
      type: MessageType.InstallSnapshot,
      from: 'a',
      to: 'c',
      term: h.raft('a').term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      snapshot: { metadata: { index: snapIndex + 0, term: snap.term(snapIndex)!, confState: { voters: ids3, learners: [] } }, data: Buffer.from('[]') },
    });
    expect(c.log.lastIndex()).toBe(lastBefore);
    const rd = c.ready();
    expect(rd.snapshot).toBeUndefined();
    c.advance();
  });

  test('a node restarted from a snapshot on disk resumes from it', () => {
    const h = elected();
    for (let i = 0; i < 4; i++) h.propose('a', `x${i}`);
    compactAll(h);
    h.propose('a', 'x4');
    h.tickAll(1);
    h.crash('b');
    h.restart('b');
    const b: Raft = h.raft('b');
    expect(b.log.snapshot.metadata.index).toBeGreaterThan(1);
    expect(b.log.lastIndex()).toBe(h.raft('a').log.lastIndex());
    expect(b.confState.voters).toEqual(ids3);
  });
});

describe('a follower that lost its disk', () => {
  test('is noticed by the leader and brought back by snapshot, even when the cluster is idle', () => {
    const h = elected();
    for (let i = 0; i < 4; i++) h.propose('a', `x${i}`);
    for (const n of h.nodes.values()) {
      n.raft.compact(n.raft.log.applied, Buffer.from(JSON.stringify(n.appliedData)));
      h.processReadies();
    }
    h.crash('c');
    // Its data directory is replaced by an empty one: it bootstraps again from scratch.
    const fresh = new ClusterHarness(ids3).node('c').disk;
    h.node('c').disk = { ...fresh, entries: fresh.entries.slice() };
    h.node('c').appliedData = [];
    h.restart('c');
    h.tickAll(5);
    expect(h.node('c').appliedData).toEqual(['x0', 'x1', 'x2', 'x3']);
    expect(h.raft('c').log.commit).toBe(h.raft('a').log.commit);
    expect(h.raft('a').status().progress.find((p) => p.id === 'c')?.match).toBe(h.raft('a').log.lastIndex());
  });
});
