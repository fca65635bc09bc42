import * as fs from 'fs';
import { EntryType, Snapshot } from '../../src/raft/types';
import { StorageContractError, StorageUnavailableError } from '../../src/storage/errors';
import { RaftStorage } from '../../src/storage/raft_storage';
import { entries, entry, hardState, IDENTITY, plain, trackedStores } from './helpers';

const { openStore, freshDir } = trackedStores();

async function reopen(store: RaftStorage): Promise<RaftStorage> {
  await store.close();
  return openStore(store.dir);
}

async function smRecords(store: RaftStorage, prefix?: Uint8Array): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const r of store.iterateStateMachine(prefix)) out[Buffer.from(r.key).toString()] = Buffer.from(r.value).toString();
  return out;
}

describe('RaftStorage: open, persist, reopen', () => {
  it('creates a fresh store in a missing directory, empty', async () => {
    const dir = freshDir() + '/nested/data';
    const store = await openStore(dir);
    expect(store.load().hardState).toEqual({ term: 0, vote: '', commit: 0 });
    expect(store.load().snapshot).toBeNull();
    expect(store.load().entries).toEqual([]);
    expect([store.logFirstIndex, store.logLastIndex]).toEqual([1, 0]);
    expect(fs.readdirSync(dir)).toContain('CURRENT');
  });

  it('reopens to exactly the persisted state', async () => {
    const store = await openStore(freshDir());
    await store.persist({ hardState: hardState(2, 0), entries: entries(1, 3, 1), logFirstIndex: 1, logLastIndex: 3 });
    await store.persist({ hardState: hardState(2, 3), entries: [entry(4, 2, 'ünïcode')], logFirstIndex: 1, logLastIndex: 4 }, [
      { type: 'put', key: Buffer.from('chain-a/pk1'), value: Buffer.from('h=10') },
    ]);
    const again = await reopen(store);
    const state = again.load();
    expect(state.hardState).toEqual({ term: 2, vote: 'node0', commit: 3 });
    expect(state.snapshot).toBeNull();
    expect(plain(state.entries)).toEqual(plain([...entries(1, 3, 1), entry(4, 2, 'ünïcode')]));
    expect(Buffer.from((await state.stateMachine.get(Buffer.from('chain-a/pk1')))!).toString()).toBe('h=10');
    expect(await state.stateMachine.get(Buffer.from('chain-a/pk2'))).toBeUndefined();
    expect([again.logFirstIndex, again.logLastIndex]).toEqual([1, 4]);
  });

  it('truncates a conflicting suffix: 1..10, then 6..7 of a new term leaves 1..7', async () => {
    const store = await openStore(freshDir());
    await store.persist({ hardState: hardState(1, 0), entries: entries(1, 10, 1), logFirstIndex: 1, logLastIndex: 10 });
    await store.persist({ hardState: hardState(2, 0, 'node1'), entries: entries(6, 7, 2), logFirstIndex: 1, logLastIndex: 7 });
    expect([store.logFirstIndex, store.logLastIndex]).toEqual([1, 7]);
    const state = (await reopen(store)).load();
    expect(plain(state.entries)).toEqual(plain([...entries(1, 5, 1), ...entries(6, 7, 2)]));
  });

  it('overwrites a suffix with a longer one and appends after it', async () => {
    let store = await openStore(freshDir());
    await store.persist({ hardState: hardState(1, 0), entries: entries(1, 5, 1), logFirstIndex: 1, logLastIndex: 5 });
    await store.persist({ hardState: hardState(3, 0), entries: entries(3, 8, 3), logFirstIndex: 1, logLastIndex: 8 });
    await store.persist({ entries: entries(9, 9, 3), logFirstIndex: 1, logLastIndex: 9 });
    store = await reopen(store);
    expect(plain(store.load().entries)).toEqual(plain([...entries(1, 2, 1), ...entries(3, 9, 3)]));
  });

  it('compacts the log with a snapshot: entries before logFirstIndex are deleted', async () => {
    let store = await openStore(freshDir());
    await store.persist({ hardState: hardState(1, 10), entries: entries(1, 10, 1), logFirstIndex: 1, logLastIndex: 10 });
    const snap: Snapshot = { metadata: { index: 6, term: 1, confState: { voters: ['node0'], learners: [] } }, data: Buffer.from('image@6') };
    await store.persist({ snapshot: snap, entries: [], logFirstIndex: 7, logLastIndex: 10 });
    expect([store.logFirstIndex, store.logLastIndex]).toEqual([7, 10]);
    await store.persist({ entries: entries(11, 11, 1), logFirstIndex: 7, logLastIndex: 11 });
    store = await reopen(store);
    const state = store.load();
    expect(state.snapshot?.metadata).toEqual(snap.metadata);
    expect(Buffer.from(state.snapshot!.data).toString()).toBe('image@6');
    expect(plain(state.entries)).toEqual(plain(entries(7, 11, 1)));
  });

  it('installs a snapshot that replaces the whole log and the state machine', async () => {
    let store = await openStore(freshDir());
    await store.persist({ hardState: hardState(1, 2), entries: entries(1, 5, 1), logFirstIndex: 1, logLastIndex: 5 }, [
      { type: 'put', key: Buffer.from('old/a'), value: Buffer.from('1') },
      { type: 'put', key: Buffer.from('old/b'), value: Buffer.from('2') },
    ]);
    const snap: Snapshot = {
      metadata: { index: 50, term: 4, confState: { voters: ['node0', 'node1', 'node2'], learners: ['node3'] } },
      data: Buffer.alloc(100_000, 9),
    };
    await store.persist(
      { hardState: hardState(4, 50, ''), snapshot: snap, entries: [], logFirstIndex: 51, logLastIndex: 50 },
      [{ type: 'put', key: Buffer.from('new/a'), value: Buffer.from('from snapshot') }],
      { clearStateMachine: true },
    );
    expect([store.logFirstIndex, store.logLastIndex]).toEqual([51, 50]);
    await store.persist({ entries: entries(51, 52, 4), logFirstIndex: 51, logLastIndex: 52 });
    store = await reopen(store);
    const state = store.load();
    expect(state.snapshot?.metadata).toEqual(snap.metadata);
    expect(Buffer.compare(Buffer.from(state.snapshot!.data), snap.data)).toBe(0);
    expect(plain(state.entries)).toEqual(plain(entries(51, 52, 4)));
    expect(state.hardState).toEqual({ term: 4, vote: '', commit: 50 });
    expect(await smRecords(store)).toEqual({ 'new/a': 'from snapshot' });
  });

  it('installs a snapshot in the middle of the stored log, keeping the entries after it', async () => {
    let store = await openStore(freshDir());
    await store.persist({ hardState: hardState(2, 8), entries: entries(1, 8, 2), logFirstIndex: 1, logLastIndex: 8 });
    const snap: Snapshot = { metadata: { index: 4, term: 2, confState: { voters: ['node0'], learners: [] } }, data: Buffer.from('s') };
    await store.persist({ snapshot: snap, entries: entries(7, 9, 2), logFirstIndex: 5, logLastIndex: 9 });
    store = await reopen(store);
    expect(plain(store.load().entries)).toEqual(plain(entries(5, 9, 2)));
  });

  it('writes state-machine records in the same batch as the log, and reads them by prefix', async () => {
    let store = await openStore(freshDir());
    await store.persist({ hardState: hardState(1, 1), entries: [entry(1, 1)], logFirstIndex: 1, logLastIndex: 1 }, [
      { type: 'put', key: Buffer.from('c1/k1'), value: Buffer.from('a') },
      { type: 'put', key: Buffer.from('c1/k2'), value: Buffer.from('b') },
      { type: 'put', key: Buffer.from('c2/k1'), value: Buffer.from('c') },
    ]);
    await store.writeStateMachine([{ type: 'del', key: Buffer.from('c1/k2') }, { type: 'put', key: Buffer.from('c1/k3'), value: Buffer.from('d') }]);
    store = await reopen(store);
    expect(await smRecords(store, Buffer.from('c1/'))).toEqual({ 'c1/k1': 'a', 'c1/k3': 'd' });
    expect(await smRecords(store)).toEqual({ 'c1/k1': 'a', 'c1/k3': 'd', 'c2/k1': 'c' });
    expect(plain(store.load().entries)).toEqual(plain([entry(1, 1)]));
  });

  it('a refused persist writes nothing: neither the log nor the state-machine records', async () => {
    let store = await openStore(freshDir());
    await store.persist({ hardState: hardState(1, 0), entries: entries(1, 3, 1), logFirstIndex: 1, logLastIndex: 3 });
    await expect(
      store.persist({ entries: entries(5, 6, 1), logFirstIndex: 1, logLastIndex: 6 }, [
        { type: 'put', key: Buffer.from('k'), value: Buffer.from('v') },
      ]),
    ).rejects.toThrow(StorageContractError);
    // The store still works and still holds exactly what it held.
    await store.persist({ entries: [entry(4, 1)], logFirstIndex: 1, logLastIndex: 4 });
    store = await reopen(store);
    expect(plain(store.load().entries)).toEqual(plain(entries(1, 4, 1)));
    expect(await store.getStateMachine(Buffer.from('k'))).toBeUndefined();
  });

  it('runs concurrent persists one after another, in call order', async () => {
    let store = await openStore(freshDir());
    const writes: Array<Promise<void>> = [];
    for (let i = 1; i <= 50; i++) {
      writes.push(store.persist({ hardState: hardState(1, i - 1), entries: [entry(i, 1)], logFirstIndex: 1, logLastIndex: i }));
      writes.push(store.writeStateMachine([{ type: 'put', key: Buffer.from('applied'), value: Buffer.from(String(i)) }], { sync: false }));
    }
    await Promise.all(writes);
    store = await reopen(store);
    expect(store.load().entries.map((e) => e.index)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(Buffer.from((await store.getStateMachine(Buffer.from('applied')))!).toString()).toBe('50');
  });

  it('refuses to be used after close', async () => {
    const store = await RaftStorage.open(freshDir(), IDENTITY);
    await store.close();
    await expect(store.persist({ entries: [entry(1, 1)], logFirstIndex: 1, logLastIndex: 1 })).rejects.toThrow(StorageUnavailableError);
    await expect(store.getStateMachine(Buffer.from('k'))).rejects.toThrow(/is closed/);
  });
});

describe('RaftStorage: persist refuses what open would refuse (nothing written)', () => {
  let store: RaftStorage;
  beforeEach(async () => {
    store = await openStore(freshDir());
    await store.persist({ hardState: hardState(3, 2, 'node1'), entries: entries(1, 5, 2), logFirstIndex: 1, logLastIndex: 5 });
  });

  const cases: Array<[string, () => Parameters<RaftStorage['persist']>[0], RegExp]> = [
    ['a gap before the new entries', () => ({ entries: entries(7, 8, 3), logFirstIndex: 1, logLastIndex: 8 }), /\[6, 6\] would be missing/],
    ['non-contiguous entries', () => ({ entries: [entry(6, 3), entry(8, 3)], logFirstIndex: 1, logLastIndex: 8 }), /not contiguous/],
    ['entries not ending at logLastIndex', () => ({ entries: entries(6, 7, 3), logFirstIndex: 1, logLastIndex: 9 }), /end at the log range/],
    ['a term below the entry before', () => ({ entries: [entry(6, 1)], logFirstIndex: 1, logLastIndex: 6 }), /below the term 2 of stored entry 5/],
    ['terms going down inside the batch', () => ({ entries: [entry(6, 3), entry(7, 2)], logFirstIndex: 1, logLastIndex: 7 }), /below the term of the entry before/],
    ['a range beyond the stored log', () => ({ entries: [], logFirstIndex: 1, logLastIndex: 9 }), /is not stored/],
    ['compaction without a snapshot', () => ({ entries: [], logFirstIndex: 3, logLastIndex: 5 }), /must follow the snapshot index 0/],
    ['commit beyond the log', () => ({ hardState: hardState(3, 6, 'node1'), entries: [], logFirstIndex: 1, logLastIndex: 5 }), /commit 6 would be beyond/],
    ['a term going back', () => ({ hardState: hardState(2, 2, 'node1'), entries: [], logFirstIndex: 1, logLastIndex: 5 }), /below the stored term 3/],
    ['a second vote in one term', () => ({ hardState: hardState(3, 2, 'node2'), entries: [], logFirstIndex: 1, logLastIndex: 5 }), /changes the vote in term 3 from node1 to node2/],
    ['commit going back', () => ({ hardState: hardState(3, 1, 'node1'), entries: [], logFirstIndex: 1, logLastIndex: 5 }), /below the stored commit 2/],
    ['entries of a term above the hard state', () => ({ entries: [entry(6, 4)], logFirstIndex: 1, logLastIndex: 6 }), /term 3 would be below the last log term 4/],
    [
      'a snapshot at index 0',
      () => ({
        snapshot: { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) },
        entries: [],
        logFirstIndex: 1,
        logLastIndex: 5,
      }),
      /invalid index/,
    ],
    ['an unknown entry type', () => ({ entries: [{ index: 6, term: 3, type: 7 as EntryType, data: new Uint8Array(0) }], logFirstIndex: 1, logLastIndex: 6 }), /unknown type 7/],
  ];

  it.each(cases)('refuses %s', async (_name, request, message) => {
    await expect(store.persist(request())).rejects.toThrow(StorageContractError);
    await expect(store.persist(request())).rejects.toThrow(message);
    const again = await reopen(store);
    expect(again.load().hardState).toEqual({ term: 3, vote: 'node1', commit: 2 });
    expect(plain(again.load().entries)).toEqual(plain(entries(1, 5, 2)));
  });

  it('refuses a snapshot older than the stored one', async () => {
    const snap = (index: number): Snapshot => ({ metadata: { index, term: 2, confState: { voters: ['node0'], learners: [] } }, data: Buffer.from([index]) });
    await store.persist({ snapshot: snap(3), entries: [], logFirstIndex: 4, logLastIndex: 5 });
    await expect(store.persist({ snapshot: snap(2), entries: [], logFirstIndex: 3, logLastIndex: 5 })).rejects.toThrow(
      /snapshot at index 2 is older than the stored snapshot at 3/,
    );
    const again = await reopen(store);
    expect(again.load().snapshot?.metadata.index).toBe(3);
    expect(plain(again.load().entries)).toEqual(plain(entries(4, 5, 2)));
  });

  it('accepts a vote in a new term and a first vote in the same term', async () => {
    const fresh = await openStore(freshDir());
    await fresh.persist({ hardState: { term: 1, vote: '', commit: 0 }, entries: [], logFirstIndex: 1, logLastIndex: 0 });
    await fresh.persist({ hardState: { term: 1, vote: 'node2', commit: 0 }, entries: [], logFirstIndex: 1, logLastIndex: 0 });
    await fresh.persist({ hardState: { term: 2, vote: 'node0', commit: 0 }, entries: [], logFirstIndex: 1, logLastIndex: 0 });
    expect(fresh.hardState).toEqual({ term: 2, vote: 'node0', commit: 0 });
  });
});
