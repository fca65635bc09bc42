// Which messages of a Ready may leave before its batch is durable (Raft.splitMessages; thesis
// 10.2.1 and etcd-io/raft's messages after append): the core says it, every driver obeys it.

import { allMessages, Message, MessageType, Role } from '../../src/raft/types';
import { bootstrapState, Raft } from '../../src/raft/raft';
import { SeededRandom } from '../../src/raft/rng';
import { ClusterHarness } from './cluster_harness';

const ofType = (ms: Message[], t: MessageType): Message[] => ms.filter((m) => m.type === t);

describe('messages before and after the write', () => {
  test('a campaign, its vote requests and every answer to them wait for the write', () => {
    const h = new ClusterHarness(['a', 'b', 'c']);
    const a = h.raft('a');
    a.campaign();
    let rd = a.ready();
    let sawTermChange = false;
    // Pre-vote first (no new term), then the vote (a new term and a vote for itself): neither the
    // requests nor the answers leave before the batch that goes with them is written.
    for (let round = 0; round < 3 && a.role !== Role.Leader; round++) {
      if (rd.hardState && rd.hardState.term > 0) sawTermChange = true;
      expect(rd.messagesNow).toEqual([]);
      const requests = rd.messagesAfterPersist.filter((m) => m.type === MessageType.Vote || m.type === MessageType.PreVote);
      expect(requests.map((m) => m.to).sort()).toEqual(['b', 'c']);
      a.advance();
      for (const req of requests) {
        const voter = h.raft(req.to);
        voter.step(req);
        const rdv = voter.ready();
        expect(rdv.messagesNow).toEqual([]);
        const answers = rdv.messagesAfterPersist.filter((m) => m.type === MessageType.VoteResponse || m.type === MessageType.PreVoteResponse);
        expect(answers.length).toBe(1);
        voter.advance();
        a.step(answers[0]);
      }
      rd = a.ready();
    }
    expect(sawTermChange).toBe(true);
    a.advance();
  });

  test("a leader's appends leave at once, while it writes the same entries; a follower's acknowledgement waits for its write", () => {
    const h = new ClusterHarness(['a', 'b', 'c']);
    h.campaign('a');
    const a = h.raft('a');
    const { index } = a.propose(Buffer.from('x'));
    const rd = a.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([index]);
    const appends = ofType(rd.messagesNow, MessageType.Append);
    expect(appends.map((m) => m.to).sort()).toEqual(['b', 'c']);
    for (const m of appends) {
      expect(m.entries.map((e) => e.index)).toContain(index);
      expect(m.commit).toBeLessThan(index);
    }
    expect(ofType(rd.messagesAfterPersist, MessageType.Append)).toEqual([]);
    a.advance();

    const b = h.raft('b');
    b.step(appends.find((m) => m.to === 'b') as Message);
    const rdb = b.ready();
    expect(rdb.entries.map((e) => e.index)).toContain(index);
    expect(rdb.messagesNow).toEqual([]);
    expect(ofType(rdb.messagesAfterPersist, MessageType.AppendResponse).map((m) => m.index)).toEqual([index]);
    b.advance();
  });

  test('an append whose commit index covers entries not yet on the leader\'s own disk waits for it (a leader that is a quorum alone)', () => {
    const h = new ClusterHarness(['a']);
    h.campaign('a');
    h.add('l');
    const a = h.raft('a');
    a.proposeConfChange({ type: 'addLearner', node: 'l' });
    h.stabilize();
    h.tickAll(2);
    expect(a.confState.learners).toEqual(['l']);
    const { index } = a.propose(Buffer.from('y'));
    const rd = a.ready();
    // Alone a quorum, the leader counts its own append at once: the entry is committed in memory...
    expect(rd.committedEntries.map((e) => e.index)).toContain(index);
    // ...but not on its disk, so nothing that tells the learner of that commit may go yet.
    expect(rd.messagesNow.filter((m) => m.commit >= index)).toEqual([]);
    const toLearner = ofType(rd.messagesAfterPersist, MessageType.Append).filter((m) => m.to === 'l');
    expect(toLearner.length).toBe(1);
    expect(toLearner[0].commit).toBe(index);
    a.advance();
  });

  test('a Ready that applies entries is synced even when the hard state does not change: the records go in its batch', () => {
    const boot = bootstrapState(['a', 'b', 'c']);
    const r = new Raft({ id: 'a', heartbeatTicks: 1, electionTicks: 10, random: new SeededRandom(1) }, { ...boot, entries: boot.entries.slice(), applied: 0 });
    const rd = r.ready();
    expect(rd.hardState).toBeUndefined();
    expect(rd.entries).toEqual([]);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1]);
    expect(rd.mustSync).toBe(true);
    r.advance();
  });
});
