// Log replication after the Raft paper (5.3, 5.4.2, figures 7 and 8), fast backtracking, flow
// control, and the persistence contract of ready()/advance().

import { RaftUsageError } from '../../src/raft/errors';
import { Raft } from '../../src/raft/raft';
import { allMessages, MessageType, ProgressState, Role } from '../../src/raft/types';
import { ClusterHarness, figure8Cluster, holdUpNewTermEntry, stateWithLog } from './cluster_harness';

const ids3 = ['a', 'b', 'c'];

describe('log replication', () => {
  test('proposals commit on a majority and every node applies them in order', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    for (let i = 0; i < 5; i++) h.propose('a', `x${i}`);
    h.tickAll(2);
    for (const id of ids3) expect(h.node(id).appliedData).toEqual(['x0', 'x1', 'x2', 'x3', 'x4']);
    expect(h.checker.violations).toEqual([]);
  });

  test('a proposal made on a follower is refused with the leader as a hint', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    expect(() => h.raft('b').propose(Buffer.from('x'))).toThrow(expect.objectContaining({ reason: 'not-leader', leaderHint: 'a' }));
  });

  test('figure 7: the leader repairs every kind of divergent follower log', () => {
    // Leader for term 8 with the log of figure 7 (terms of indexes 2..11 after our bootstrap entry).
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers: Record<string, number[]> = {
      fa: [1, 1, 1, 4, 4, 5, 5, 6, 6], // missing one
      fb: [1, 1, 1, 4], // missing many
      fc: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // one extra uncommitted
      fd: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // extra entries of a later term
      fe: [1, 1, 1, 4, 4, 4, 4], // a divergent term-4 suffix
      ff: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // divergent terms 2 and 3
    };
    const all = ['leader', ...Object.keys(followers)];
    for (const [id, terms] of Object.entries(followers)) {
      const h = new ClusterHarness([]);
      h.add('leader', stateWithLog(all, leaderLog, 7));
      h.add(id, stateWithLog(all, terms, 7));
      for (const other of all) if (other !== 'leader' && other !== id) h.add(other, stateWithLog(all, leaderLog, 7));
      h.campaign('leader');
      expect(h.raft('leader').role).toBe(Role.Leader);
      h.tickAll(3);
      expect(h.logTerms(id)).toEqual(h.logTerms('leader'));
      expect(h.checker.violations).toEqual([]);
    }
  });

  test('fast backtracking skips a whole divergent term per round trip', () => {
    const divergent = new Array(200).fill(2);
    const h = new ClusterHarness([]);
    h.add('a', stateWithLog(ids3, [3], 3));
    h.add('b', stateWithLog(ids3, [3], 3));
    h.add('c', stateWithLog(ids3, divergent, 3));
    h.campaign('a');
    h.tickAll(3);
    expect(h.logTerms('c')).toEqual(h.logTerms('a'));
    const rejects = h.sent.filter((m) => m.type === MessageType.AppendResponse && m.from === 'c' && m.reject);
    // Without the term hint the leader would step back one index per rejection (~200 of them).
    expect(rejects.length).toBeLessThanOrEqual(3);
  });

  test('figure 8: an entry from an earlier term is not committed by counting replicas', () => {
    const h = figure8Cluster();
    holdUpNewTermEntry(h);
    h.campaign('s1');
    expect(h.raft('s1').role).toBe(Role.Leader);
    expect(h.raft('s3').log.term(2)).toBe(2); // a majority (s1, s2, s3) holds index 2 ...
    expect(h.raft('s1').log.commit).toBe(1); // ... and it is still not committed
    expect(h.node('s1').appliedData).toEqual([]);
  });

  test('the persistence contract: acknowledgements travel with the state they promise', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    h.raft('a').propose(Buffer.from('x'));
    const rdLeader = h.raft('a').ready();
    expect(rdLeader.entries.map((e) => Buffer.from(e.data).toString())).toEqual(['x']);
    expect(rdLeader.mustSync).toBe(true);
    const append = allMessages(rdLeader).find((m) => m.type === MessageType.Append && m.to === 'b')!;
    h.raft('a').advance();
    h.raft('b').step(append);
    const rd = h.raft('b').ready();
    // The acknowledgement of entry N is in the same Ready as entry N itself: the driver must
    // persist it before sending the acknowledgement.
    const ack = allMessages(rd).find((m) => m.type === MessageType.AppendResponse)!;
    expect(ack.index).toBe(append.index + 1);
    expect(rd.entries.map((e) => e.index)).toContain(ack.index);
    expect(rd.mustSync).toBe(true);
    h.raft('b').advance();
  });

  test('a Ready that carries only heartbeats needs no fsync', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    h.tickAll(2);
    h.raft('a').tick();
    const rd = h.raft('a').ready();
    expect(allMessages(rd).some((m) => m.type === MessageType.Heartbeat)).toBe(true);
    expect(rd.mustSync).toBe(false);
    h.raft('a').advance();
  });

  test('nothing may be stepped between ready() and advance()', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    h.raft('a').propose(Buffer.from('x'));
    h.raft('a').ready();
    expect(() => h.raft('a').propose(Buffer.from('y'))).toThrow(RaftUsageError);
    expect(() => h.raft('a').tick()).toThrow(RaftUsageError);
    h.raft('a').advance();
    expect(() => h.raft('a').advance()).toThrow(RaftUsageError);
  });

  test('many proposals between two readies go out as one append per follower', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    h.tickAll(2);
    for (let i = 0; i < 20; i++) h.raft('a').propose(Buffer.from(`x${i}`));
    const rd = h.raft('a').ready();
    const appends = allMessages(rd).filter((m) => m.type === MessageType.Append);
    expect(appends).toHaveLength(2);
    expect(appends[0].entries).toHaveLength(20);
    h.raft('a').advance();
  });

  test('flow control: a follower that stops answering gets at most the in-flight window', () => {
    const h = new ClusterHarness(ids3, { maxAppendEntries: 1, maxInflightAppends: 3 });
    h.campaign('a');
    h.tickAll(2);
    expect(h.raft('a').status().progress.find((p) => p.id === 'c')?.state).toBe(ProgressState.Replicate);
    h.addFilter((m) => m.from !== 'c'); // c receives but never answers
    const before = h.sent.length;
    for (let i = 0; i < 10; i++) h.propose('a', `x${i}`);
    const toC = h.sent.slice(before).filter((m) => m.type === MessageType.Append && m.to === 'c' && m.entries.length > 0);
    expect(toC).toHaveLength(3);
    // b answered, so everything committed anyway.
    expect(h.node('a').appliedData).toHaveLength(10);
  });

  test('a crashed follower restarts from its disk and catches up', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    h.propose('a', 'x1');
    h.crash('c');
    h.propose('a', 'x2');
    h.restart('c');
    expect(h.raft('c').term).toBe(h.raft('a').term);
    h.tickAll(3);
    expect(h.node('c').appliedData).toEqual(['x1', 'x2']);
    expect(h.logTerms('c')).toEqual(h.logTerms('a'));
  });

  test('the status view shows role, term, indexes and each follower', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    h.propose('a', 'x');
    h.tickAll(1);
    const s = h.raft('a').status();
    expect(s).toMatchObject({ id: 'a', role: Role.Leader, leader: 'a', commitIndex: 3, appliedIndex: 3, lastIndex: 3 });
    expect(s.progress.map((p) => [p.id, p.match, p.next, p.state])).toEqual([
      ['b', 3, 4, ProgressState.Replicate],
      ['c', 3, 4, ProgressState.Replicate],
    ]);
    expect(h.raft('b').status()).toMatchObject({ role: Role.Follower, leader: 'a', commitIndex: 3, progress: [] });
  });

  test('a restarted node re-applies only what its state machine had not applied', () => {
    const h = new ClusterHarness(ids3);
    h.campaign('a');
    h.propose('a', 'x1');
    h.tickAll(1);
    const disk = h.node('b').disk;
    const r = new Raft(
      { id: 'b', heartbeatTicks: 1, electionTicks: 10, random: { nextInt: () => 0 } },
      { hardState: disk.hardState, snapshot: disk.snapshot, entries: disk.entries, applied: disk.applied },
    );
    expect(r.ready().committedEntries).toEqual([]);
    const r2 = new Raft(
      { id: 'b', heartbeatTicks: 1, electionTicks: 10, random: { nextInt: () => 0 } },
      { hardState: disk.hardState, snapshot: disk.snapshot, entries: disk.entries, applied: 1 },
    );
    expect(r2.ready().committedEntries.map((e) => e.index)).toEqual([2, 3]);
  });
});
