// What peers said about their own stores (src/node/peer_marks.ts): the check that catches a whole
// home rolled back, as far as a peer saw past it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { behindOwnPast, decodeReportedMark, encodeReportedMark, PeerMarks } from '../../src/node/peer_marks';
import { Message, MessageType } from '../../src/raft/types';
import { silentLogger } from '../../src/log/logger';

const S = 'a'.repeat(32);
const T = 'b'.repeat(32);

function msg(type: MessageType, over: Partial<Message> = {}): Message {
  return { type, from: 'n1', to: 'n0', term: 5, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, incarnation: S, ...over };
}

let home: string;
beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'peer-marks-'));
});
afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

describe('PeerMarks', () => {
  test('notes the highest durable term per peer store, and the vote it gave this node', () => {
    const marks = PeerMarks.load(home, 'n0', silentLogger());
    marks.observe(msg(MessageType.HeartbeatResponse, { term: 4 }));
    marks.observe(msg(MessageType.VoteResponse, { term: 5 }));
    marks.observe(msg(MessageType.AppendResponse, { term: 3 }));
    expect(marks.markOf('n1')).toEqual({ storeId: S, term: 5, vote: 'n0' });
    // A pre-vote carries a term the sender never wrote: not noted.
    marks.observe(msg(MessageType.PreVote, { term: 9 }));
    marks.observe(msg(MessageType.PreVoteResponse, { term: 9 }));
    expect(marks.markOf('n1')?.term).toBe(5);
    // A rejected vote says nothing about whom it voted for.
    marks.observe(msg(MessageType.VoteResponse, { term: 6, reject: true }));
    expect(marks.markOf('n1')).toEqual({ storeId: S, term: 6, vote: '' });
    // A new store of the peer is noted beside the old one (a new incarnation is not compared with it).
    marks.observe(msg(MessageType.Heartbeat, { term: 2, incarnation: T }));
    expect(marks.markOf('n1')).toEqual({ storeId: T, term: 2, vote: '' });
    expect(marks.markOf('n1', S)).toEqual({ storeId: S, term: 6, vote: '' });
  });

  test("a peer's new store does not wipe out its old store's mark: a later rollback of the old store is still caught", () => {
    // The voter's disk is lost, it runs on a new store T for a while (join: true left set), then its
    // whole home is put back from an old image of store S, which the membership still names.
    const marks = PeerMarks.load(home, 'n0', silentLogger());
    marks.observe(msg(MessageType.AppendResponse, { term: 9, incarnation: S }));
    for (let t = 9; t < 30; t++) marks.observe(msg(MessageType.HeartbeatResponse, { term: t, incarnation: T }));
    expect(marks.check('n1', { storeId: S, term: 4, vote: '' })).toMatch(/spoke in term 9 before/);
    marks.stop();
    expect(PeerMarks.load(home, 'n0', silentLogger()).check('n1', { storeId: S, term: 4, vote: '' })).toMatch(/spoke in term 9 before/);
  });

  test('refuses a store reporting a lower term, or another vote in the term it voted for this node; accepts equal or newer', () => {
    const marks = PeerMarks.load(home, 'n0', silentLogger());
    marks.observe(msg(MessageType.VoteResponse, { term: 5 }));
    expect(marks.check('n1', { storeId: S, term: 4, vote: 'n1' })).toMatch(/reports term 4, but it spoke in term 5 before/);
    expect(marks.check('n1', { storeId: S, term: 5, vote: '' })).toMatch(/voted for n0 in that term before/);
    expect(marks.check('n1', { storeId: S, term: 5, vote: 'n0' })).toBeNull();
    expect(marks.check('n1', { storeId: S, term: 7, vote: '' })).toBeNull();
    expect(marks.check('n1', { storeId: T, term: 1, vote: '' })).toBeNull();
    expect(marks.check('n2', { storeId: S, term: 1, vote: '' })).toBeNull();
    expect(marks.check('n1', null)).toBeNull();
  });

  test('survive a restart of this node (fsynced file), and a corrupt file starts over', () => {
    const marks = PeerMarks.load(home, 'n0', silentLogger());
    marks.observe(msg(MessageType.Append, { term: 8 }));
    marks.stop();
    expect(PeerMarks.load(home, 'n0', silentLogger()).markOf('n1')).toEqual({ storeId: S, term: 8, vote: '' });
    fs.writeFileSync(path.join(home, 'peer-marks.json'), '{');
    expect(PeerMarks.load(home, 'n0', silentLogger()).markOf('n1')).toBeUndefined();
  });

  test('the reported mark round-trips and anything malformed reads as none', () => {
    expect(decodeReportedMark(encodeReportedMark({ storeId: S, term: 12, vote: 'node-2' }))).toEqual({ storeId: S, term: 12, vote: 'node-2' });
    expect(decodeReportedMark(encodeReportedMark({ storeId: S, term: 0, vote: '' }))).toEqual({ storeId: S, term: 0, vote: '' });
    for (const bad of ['', 'x:1:a', `${S}:-1:a`, `${S}:1:a b`, `${S}:1`]) expect(decodeReportedMark(bad)).toBeNull();
    expect(behindOwnPast(undefined, { storeId: S, term: 0, vote: '' })).toBeNull();
  });
});
