// The store id (a copy of the directory keeps it, a new store gets another) and the fsynced hard
// state: the two facts the store high-water record is built from (src/node/store_high_water.ts).

import * as fs from 'fs';
import { Level } from 'level';
import { STORE_ID_KEY } from '../../src/storage/keys';
import { RaftStorage } from '../../src/storage/raft_storage';
import { StorageCorruptError } from '../../src/storage/errors';
import { entries, hardState, IDENTITY, trackedStores } from './helpers';

const { openStore, freshDir } = trackedStores();

describe('store id', () => {
  it('is chosen at creation, kept across reopen and by a copy of the directory, new for a new store', async () => {
    const dir = freshDir();
    const store = await openStore(dir);
    expect(store.storeId).toMatch(/^[0-9a-f]{32}$/);
    const id = store.storeId;
    await store.close();
    const copy = freshDir();
    fs.cpSync(dir, copy, { recursive: true });
    expect((await openStore(dir)).storeId).toBe(id);
    expect((await openStore(copy)).storeId).toBe(id);
    expect((await openStore(freshDir())).storeId).not.toBe(id);
  });

  it('is given to a store written before ids existed, once, and kept', async () => {
    const dir = freshDir();
    const store = await openStore(dir);
    await store.persist({ hardState: hardState(3, 2), entries: entries(1, 2, 3), logFirstIndex: 1, logLastIndex: 2 });
    await store.close();
    const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    await db.del(STORE_ID_KEY);
    await db.close();
    const upgraded = await openStore(dir);
    expect(upgraded.storeId).toMatch(/^[0-9a-f]{32}$/);
    expect(upgraded.load().hardState).toEqual({ term: 3, vote: 'node0', commit: 2 });
    const id = upgraded.storeId;
    await upgraded.close();
    expect((await openStore(dir)).storeId).toBe(id);
  });

  it('refuses a damaged store id record', async () => {
    const dir = freshDir();
    await (await openStore(dir)).close();
    const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const value = await db.get(STORE_ID_KEY);
    value![6] ^= 0xff;
    await db.put(STORE_ID_KEY, value!);
    await db.close();
    await expect(RaftStorage.open(dir, IDENTITY)).rejects.toThrow(StorageCorruptError);
    await expect(RaftStorage.open(dir, IDENTITY)).rejects.toThrow(/store id record: checksum mismatch/);
  });
});

describe('syncedHardState', () => {
  it('moves only with an fsynced batch, which also makes earlier unsynced ones durable', async () => {
    const store = await openStore(freshDir());
    await store.persist({ hardState: hardState(2, 1), entries: entries(1, 1, 2), logFirstIndex: 1, logLastIndex: 1 });
    expect(store.syncedHardState).toEqual({ term: 2, vote: 'node0', commit: 1 });
    await store.persist({ hardState: hardState(2, 1), entries: entries(2, 2, 2), logFirstIndex: 1, logLastIndex: 2 });
    // A commit-only change written without fsync (a Ready whose mustSync is false).
    await store.persist({ hardState: hardState(2, 2), entries: [], logFirstIndex: 1, logLastIndex: 2 }, [], { sync: false });
    expect(store.hardState.commit).toBe(2);
    expect(store.syncedHardState.commit).toBe(1);
    await store.writeStateMachine([{ type: 'put', key: Buffer.from('k'), value: Buffer.from('v') }]);
    expect(store.syncedHardState).toEqual({ term: 2, vote: 'node0', commit: 2 });
  });

  it('syncedLast follows the last fsynced log entry, and the snapshot when the log is empty', async () => {
    const store = await openStore(freshDir());
    expect(store.syncedLast).toEqual({ index: 0, term: 0 });
    await store.persist({ hardState: hardState(2, 0), entries: entries(1, 3, 2), logFirstIndex: 1, logLastIndex: 3 });
    expect(store.syncedLast).toEqual({ index: 3, term: 2 });
    await store.persist(
      { hardState: hardState(4, 9), entries: [], snapshot: { metadata: { index: 9, term: 3, confState: { voters: ['node0'], learners: [] } }, data: new Uint8Array(0) }, logFirstIndex: 10, logLastIndex: 9 },
      [],
      { clearStateMachine: true },
    );
    expect(store.syncedLast).toEqual({ index: 9, term: 3 });
  });

  it('starts as the hard state the store was opened with', async () => {
    const dir = freshDir();
    const store = await openStore(dir);
    await store.persist({ hardState: hardState(4, 3), entries: entries(1, 3, 4), logFirstIndex: 1, logLastIndex: 3 });
    await store.close();
    const again = await openStore(dir);
    expect(again.syncedHardState).toEqual({ term: 4, vote: 'node0', commit: 3 });
    expect(again.syncedLast).toEqual({ index: 3, term: 4 });
  });
});
