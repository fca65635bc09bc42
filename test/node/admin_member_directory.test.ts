// Member addresses for the admin membership commands: where a new learner's address comes from
// (the add-learner entry, the file kept from earlier, the peers' view), and how the transport's
// peer list follows the membership.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log/logger';
import { AddLearnerWithAddress } from '../../src/node/cluster_admin';
import { addressInConfChange, MemberDirectory, MembershipSync } from '../../src/node/member_directory';
import { decodeConfChange, encodeConfChange } from '../../src/raft/confchange';
import { ConfState, Entry, EntryType } from '../../src/raft/types';
import { RaftPeer } from '../../src/transport/raft_transport';

const CONFIG_PEERS: RaftPeer[] = [
  { id: 'node0', address: '127.0.0.1:7000' },
  { id: 'node1', address: '127.0.0.1:7001' },
  { id: 'node2', address: '127.0.0.1:7002' },
];

function confChange(index: number, change: object): Entry {
  return { index, term: 2, type: EntryType.ConfChange, data: Buffer.from(JSON.stringify(change)) };
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-signer-members-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function directory(file: string | null = path.join(dir, 'member_addresses.json')): MemberDirectory {
  return MemberDirectory.load({ selfId: 'node0', configPeers: CONFIG_PEERS, file, logger: silentLogger() });
}

describe('addressInConfChange', () => {
  test('reads the address an add-learner entry carries, and nothing else', () => {
    expect(addressInConfChange(confChange(5, { type: 'addLearner', node: 'node3', address: '10.0.0.3:7003' }))).toEqual({ node: 'node3', address: '10.0.0.3:7003' });
    expect(addressInConfChange(confChange(5, { type: 'addLearner', node: 'node3' }))).toBeNull();
    expect(addressInConfChange(confChange(5, { type: 'addLearner', node: 'node3', address: 'no port' }))).toBeNull();
    expect(addressInConfChange(confChange(5, { type: 'promote', node: 'node3', address: '10.0.0.3:7003' }))).toBeNull();
    expect(addressInConfChange({ index: 5, term: 2, type: EntryType.Normal, data: Buffer.from('{"type":"addLearner"}') })).toBeNull();
    expect(addressInConfChange({ index: 5, term: 2, type: EntryType.ConfChange, data: Buffer.from('not json') })).toBeNull();
  });
});

describe('the add-learner entry as the core writes it', () => {
  // The address rides in the core's own encoding; if confchange.ts ever stops writing fields it
  // does not know, new learners stop being reachable, and this says so.
  test('keeps the address, and the core still reads the change', () => {
    const change: AddLearnerWithAddress = { type: 'addLearner', node: 'node3', address: '10.0.0.3:7003' };
    const data = encodeConfChange(change);
    expect(decodeConfChange(data)).toEqual({ type: 'addLearner', node: 'node3' });
    expect(addressInConfChange({ index: 7, term: 2, type: EntryType.ConfChange, data })).toEqual({ node: 'node3', address: '10.0.0.3:7003' });
  });
});

describe('MemberDirectory', () => {
  test('config.yaml peers while no membership is known; then exactly the members with an address', () => {
    const d = directory();
    expect(d.peersFor({ voters: [], learners: [] }).map((p) => p.id)).toEqual(['node1', 'node2']);
    const cs: ConfState = { voters: ['node0', 'node1', 'node2'], learners: ['node3'] };
    expect(d.peersFor(cs).map((p) => p.id)).toEqual(['node1', 'node2']);
    expect(d.missing(cs)).toEqual(['node3']);
    d.learn('node3', '10.0.0.3:7003', 'test');
    expect(d.peersFor(cs)).toEqual([...CONFIG_PEERS.slice(1), { id: 'node3', address: '10.0.0.3:7003' }]);
    // A removed member loses its link.
    expect(d.peersFor({ voters: ['node0', 'node1', 'node3'], learners: [] }).map((p) => p.id)).toEqual(['node1', 'node3']);
  });

  test('learned addresses survive a restart; config.yaml wins for the ids it lists; bad input is ignored', () => {
    const d = directory();
    d.learn('node3', '10.0.0.3:7003', 'test');
    d.learn('node1', '10.9.9.9:7001', 'test');
    d.learn('node0', '10.9.9.9:7000', 'test'); // this node itself: never a peer
    d.learn('bad id!', '10.0.0.4:7004', 'test');
    const again = directory();
    expect(again.addressOf('node3')).toBe('10.0.0.3:7003');
    expect(again.addressOf('node1')).toBe('127.0.0.1:7001');
    expect(again.addressOf('bad id!')).toBeNull();
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'member_addresses.json'), 'utf8'))).toEqual({
      members: { node3: '10.0.0.3:7003', node1: '10.9.9.9:7001' },
    });
    fs.writeFileSync(path.join(dir, 'member_addresses.json'), '{ not json');
    expect(directory().addressOf('node3')).toBeNull();
  });
});

describe('MembershipSync', () => {
  function harness(initial: ConfState, askPeer: (peer: RaftPeer) => Promise<RaftPeer[]> = async () => []) {
    let cs = initial;
    const updates: string[][] = [];
    const d = directory(null);
    const sync = new MembershipSync({
      directory: d,
      confState: () => cs,
      updatePeers: (peers) => updates.push(peers.map((p) => `${p.id}@${p.address}`)),
      askPeer,
      logger: silentLogger(),
      intervalMs: 10,
    });
    return { sync, updates, setConf: (next: ConfState) => (cs = next), directory: d };
  }

  test('a committed add-learner entry gives the peers its address at once; unchanged peers are not set again', () => {
    const h = harness({ voters: ['node0', 'node1', 'node2'], learners: [] });
    h.sync.refresh();
    h.sync.refresh();
    expect(h.updates).toEqual([['node1@127.0.0.1:7001', 'node2@127.0.0.1:7002']]);
    h.setConf({ voters: ['node0', 'node1', 'node2'], learners: ['node3'] });
    h.sync.onCommitted([
      { index: 9, term: 2, type: EntryType.Normal, data: new Uint8Array(0) },
      confChange(10, { type: 'addLearner', node: 'node3', address: '10.0.0.3:7003' }),
    ]);
    expect(h.updates[1]).toEqual(['node1@127.0.0.1:7001', 'node2@127.0.0.1:7002', 'node3@10.0.0.3:7003']);
  });

  test('a member with no known address (joined before a snapshot this node installed) is asked of the peers', async () => {
    const asked: string[] = [];
    const h = harness({ voters: ['node0', 'node1', 'node2', 'node4'], learners: [] }, async (peer) => {
      asked.push(peer.id);
      if (peer.id === 'node1') throw new Error('unreachable');
      return [{ id: 'node4', address: '10.0.0.4:7004' }, { id: 'node9', address: '10.0.0.9:7009' }];
    });
    h.sync.start();
    try {
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (h.directory.addressOf('node4') !== null) {
            clearInterval(check);
            resolve();
          }
        }, 5);
      });
    } finally {
      h.sync.stop();
    }
    expect(asked.slice(0, 2)).toEqual(['node1', 'node2']);
    // Only members are learned.
    expect(h.directory.addressOf('node9')).toBeNull();
    await new Promise((r) => setTimeout(r, 30));
    expect(h.updates[h.updates.length - 1]).toContain('node4@10.0.0.4:7004');
  });
});
