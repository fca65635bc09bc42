// Every way open() refuses a store, with the message an operator sees, and proof that the refused
// store's files are byte for byte and mtime for mtime what they were.

import * as fs from 'fs';
import * as path from 'path';
import { Level } from 'level';
import { decodeRaftStateValue, encodeEntryValue, encodeRaftStateValue, sealValue, STORE_FORMAT_VERSION } from '../../src/storage/codec';
import {
  StorageCorruptError,
  StorageFormatError,
  StorageIdentityError,
  StorageLockedError,
  StorageNotAStoreError,
} from '../../src/storage/errors';
import { entryKey, META_KEY, RAFT_STATE_KEY, SNAPSHOT_KEY, stateMachineKey } from '../../src/storage/keys';
import { RaftStorage } from '../../src/storage/raft_storage';
import {
  compiledStorageModule,
  entries,
  entry,
  hardState,
  IDENTITY,
  killAndWait,
  newestWal,
  pictureOf,
  plain,
  spawnNode,
  tempDir,
  waitForLine,
} from './helpers';

const REMEDY = 'restore the data directory from a backup, or delete it and rejoin this node as a learner';
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

/** A closed store holding entries 1..5 (term 2), hard state (2, node0, commit 3), one state-machine record. */
async function populatedStore(): Promise<string> {
  const dir = freshDir();
  const store = await RaftStorage.open(dir, IDENTITY);
  await store.persist({ hardState: hardState(2, 3), entries: entries(1, 5, 2), logFirstIndex: 1, logLastIndex: 5 }, [
    { type: 'put', key: Buffer.from('chain/pk'), value: Buffer.from('h=5') },
  ]);
  await store.close();
  return dir;
}

/** Changes the store underneath RaftStorage, with LevelDB directly. */
async function tamper(dir: string, change: (db: Level<Buffer, Buffer>) => Promise<void>): Promise<void> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  await change(db);
  await db.close();
}

/** Opens, expects a refusal of `errorClass` whose message matches every pattern, and checks nothing changed. */
async function expectRefusal(
  dir: string,
  errorClass: new (...args: never[]) => Error,
  patterns: Array<string | RegExp>,
  identity = IDENTITY,
): Promise<Error> {
  const before = pictureOf(dir);
  let caught: unknown;
  try {
    const store = await RaftStorage.open(dir, identity);
    await store.close();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(errorClass);
  const message = (caught as Error).message;
  for (const p of patterns) expect(message).toMatch(p);
  expect(pictureOf(dir)).toEqual(before);
  return caught as Error;
}

/** A store that passed these checks still opens afterwards, with its content intact. */
async function expectOpensIntact(dir: string): Promise<void> {
  const store = await RaftStorage.open(dir, IDENTITY);
  try {
    expect(plain(store.load().entries)).toEqual(plain(entries(1, 5, 2)));
  } finally {
    await store.close();
  }
}

describe('RaftStorage.open refuses, and leaves the store untouched', () => {
  it('a store of another node', async () => {
    const dir = await populatedStore();
    await expectRefusal(dir, StorageIdentityError, [`store at ${dir} belongs to node node0 / cluster cluster-a, not node node1 / cluster cluster-a`], {
      nodeId: 'node1',
      clusterId: 'cluster-a',
    });
    await expectOpensIntact(dir);
  });

  it('a store of another cluster', async () => {
    const dir = await populatedStore();
    await expectRefusal(dir, StorageIdentityError, [`store at ${dir} belongs to node node0 / cluster cluster-a, not node node0 / cluster cluster-b`], {
      nodeId: 'node0',
      clusterId: 'cluster-b',
    });
  });

  it('a gap in the log', async () => {
    const dir = await populatedStore();
    await tamper(dir, (db) => db.del(entryKey(3)));
    await expectRefusal(dir, StorageCorruptError, [`store at ${dir} is corrupt`, 'the log has a gap: entry 2 is followed by entry 4', REMEDY]);
  });

  it('a log that does not start right after the snapshot', async () => {
    const dir = await populatedStore();
    await tamper(dir, (db) => db.del(entryKey(1)));
    await expectRefusal(dir, StorageCorruptError, ['the log starts at entry 2 and there is no snapshot before it']);
  });

  it('a flipped byte in a stored entry', async () => {
    const dir = await populatedStore();
    await tamper(dir, async (db) => {
      const value = (await db.get(entryKey(2))) as Buffer;
      value[value.length - 1] ^= 0x01;
      await db.put(entryKey(2), value);
    });
    await expectRefusal(dir, StorageCorruptError, [`store at ${dir} is corrupt: log entry 2: checksum mismatch`, REMEDY]);
  });

  it('a flipped byte in a state-machine record', async () => {
    const dir = await populatedStore();
    const key = stateMachineKey(Buffer.from('chain/pk'));
    await tamper(dir, async (db) => {
      const value = (await db.get(key)) as Buffer;
      value[5] ^= 0x80;
      await db.put(key, value);
    });
    await expectRefusal(dir, StorageCorruptError, [/state-machine record 0x[0-9a-f]+: checksum mismatch/]);
  });

  it('a commit index beyond the last log index', async () => {
    const dir = await populatedStore();
    await tamper(dir, async (db) => {
      const state = decodeRaftStateValue(RAFT_STATE_KEY, (await db.get(RAFT_STATE_KEY)) as Buffer);
      await db.put(RAFT_STATE_KEY, encodeRaftStateValue(RAFT_STATE_KEY, { ...state, hardState: { ...state.hardState, commit: 100 } }));
    });
    await expectRefusal(dir, StorageCorruptError, ["the hard state's commit index 100 is beyond the last log index 5", REMEDY]);
  });

  it('a missing suffix of the log (which looks like a shorter, consistent log)', async () => {
    const dir = await populatedStore();
    await tamper(dir, async (db) => {
      await db.del(entryKey(5));
      await db.del(entryKey(4));
    });
    await expectRefusal(dir, StorageCorruptError, ['the log ends at index 3 but the raft state record says it ends at 5']);
  });

  it('a missing raft state record (which would look like term 0 with no vote)', async () => {
    const dir = await populatedStore();
    await tamper(dir, (db) => db.del(RAFT_STATE_KEY));
    await expectRefusal(dir, StorageCorruptError, ['the raft state record (hard state and store summary) is missing', REMEDY]);
  });

  it('a missing state-machine record', async () => {
    const dir = await populatedStore();
    await tamper(dir, (db) => db.del(stateMachineKey(Buffer.from('chain/pk'))));
    await expectRefusal(dir, StorageCorruptError, ['found 0 state-machine records where the raft state record expects 1']);
  });

  it('an extra state-machine record', async () => {
    const dir = await populatedStore();
    const key = stateMachineKey(Buffer.from('chain/other'));
    await tamper(dir, (db) => db.put(key, sealValue(key, Buffer.from('x'))));
    await expectRefusal(dir, StorageCorruptError, ['found 2 state-machine records where the raft state record expects 1']);
  });

  it('a missing snapshot', async () => {
    const dir = await populatedStore();
    const store = await RaftStorage.open(dir, IDENTITY);
    await store.persist({
      snapshot: { metadata: { index: 3, term: 2, confState: { voters: ['node0'], learners: [] } }, data: Buffer.from('img') },
      entries: [],
      logFirstIndex: 4,
      logLastIndex: 5,
    });
    await store.close();
    await tamper(dir, (db) => db.del(SNAPSHOT_KEY));
    await expectRefusal(dir, StorageCorruptError, ['the log starts at entry 4 and there is no snapshot before it']);
  });

  it('table files while LevelDB shows no records at all', async () => {
    const dir = await populatedStore();
    await (await RaftStorage.open(dir, IDENTITY)).close(); // data now in a table file
    await tamper(dir, async (db) => {
      for await (const key of db.keys()) await db.del(key);
    });
    expect(fs.readdirSync(dir).some((n) => n.endsWith('.ldb'))).toBe(true);
    await expectRefusal(dir, StorageCorruptError, ['LevelDB shows no records at all although it has table files']);
  });

  it('log terms going backwards', async () => {
    const dir = await populatedStore();
    await tamper(dir, (db) => db.put(entryKey(5), encodeEntryValue(entryKey(5), entry(5, 1))));
    await expectRefusal(dir, StorageCorruptError, ['log terms go backwards: entry 5 has term 1, entry 4 has 2']);
  });

  it('a store written in a newer format', async () => {
    const dir = await populatedStore();
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(STORE_FORMAT_VERSION + 1);
    await tamper(dir, (db) => db.put(META_KEY, sealValue(META_KEY, payload)));
    await expectRefusal(dir, StorageFormatError, [`has format version ${STORE_FORMAT_VERSION + 1}`]);
  });

  it('our records without a meta record', async () => {
    const dir = await populatedStore();
    await tamper(dir, (db) => db.del(META_KEY));
    await expectRefusal(dir, StorageCorruptError, ['the meta record (format, node id, cluster id) is missing']);
  });

  it('a LevelDB database of another program', async () => {
    const dir = freshDir();
    await tamper(dir, (db) => db.put(Buffer.from('user:1'), Buffer.from('{"name":"x"}')));
    await expectRefusal(dir, StorageNotAStoreError, [`${dir} is not a raft-signer store: it is a LevelDB database of another program`]);
  });

  it('a directory of unrelated files', async () => {
    const dir = freshDir();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    fs.writeFileSync(path.join(dir, 'data.bin'), Buffer.from([1, 2, 3]));
    await expectRefusal(dir, StorageNotAStoreError, [`${dir} is not a raft-signer store: it holds files that are not part of one (data.bin, notes.txt)`]);
  });

  it('a store with a foreign file next to it', async () => {
    const dir = await populatedStore();
    fs.writeFileSync(path.join(dir, 'backup.tar'), 'x');
    await expectRefusal(dir, StorageNotAStoreError, ['(backup.tar)']);
  });

  it('a file where the directory should be', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'data');
    fs.writeFileSync(file, 'x');
    await expectRefusal(dir, StorageNotAStoreError, ['it holds files that are not part of one (data)']);
    await expectRefusal(file, StorageNotAStoreError, [`${file} is not a raft-signer store: it is a file, not a directory`]);
  });

  it('garbage in CURRENT', async () => {
    const dir = await populatedStore();
    fs.writeFileSync(path.join(dir, 'CURRENT'), Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    await expectRefusal(dir, StorageCorruptError, ['LevelDB cannot open it', REMEDY]);
  });

  it('garbage in place of the table files', async () => {
    const dir = await populatedStore();
    // A second open moves the data from the write-ahead log into a table file.
    await (await RaftStorage.open(dir, IDENTITY)).close();
    const tables = fs.readdirSync(dir).filter((n) => n.endsWith('.ldb'));
    expect(tables.length).toBeGreaterThan(0);
    for (const t of tables) fs.writeFileSync(path.join(dir, t), Buffer.alloc(fs.statSync(path.join(dir, t)).size, 0x5a));
    await expectRefusal(dir, StorageCorruptError, [`store at ${dir} is corrupt`, REMEDY]);
  });

  it('data files without CURRENT', async () => {
    const dir = await populatedStore();
    fs.unlinkSync(path.join(dir, 'CURRENT'));
    await expectRefusal(dir, StorageCorruptError, ["LevelDB's CURRENT file is missing but data files remain"]);
  });

  it('a damaged record in the write-ahead log, which LevelDB alone would silently drop', async () => {
    const dir = freshDir();
    const store = await RaftStorage.open(dir, IDENTITY);
    for (let i = 1; i <= 20; i++) {
      await store.persist({ hardState: hardState(1, i - 1), entries: [entry(i, 1, 'x'.repeat(200))], logFirstIndex: 1, logLastIndex: i });
    }
    await store.close();
    const wal = newestWal(dir);
    const bytes = fs.readFileSync(wal);
    expect(bytes.length).toBeGreaterThan(4000); // the records are in the log, not yet in a table
    bytes[Math.floor(bytes.length / 3)] ^= 0x04;
    fs.writeFileSync(wal, bytes);
    await expectRefusal(dir, StorageCorruptError, ['LevelDB found a damaged record while recovering', /dropping \d+ bytes/, REMEDY]);
  });

  it('a second open in the same process, without weakening the first open’s lock', async () => {
    const dir = await populatedStore();
    const first = await RaftStorage.open(dir, IDENTITY);
    try {
      await expectRefusal(dir, StorageLockedError, [`${dir} is in use by another raft-signer process`]);
      // LevelDB's lock is an fcntl lock, which a process drops when it closes ANY descriptor of the
      // file. Prove another process is still locked out after the refused attempt.
      const child = spawnNode(`
        const { RaftStorage } = require(${JSON.stringify(compiledStorageModule())});
        RaftStorage.open(${JSON.stringify(dir)}, { nodeId: 'node0', clusterId: 'cluster-a' })
          .then(() => console.log('OPENED'), (e) => console.log('REFUSED ' + e.name));`);
      expect(await waitForLine(child, /OPENED|REFUSED/)).toBe('REFUSED StorageLockedError');
      await killAndWait(child);
      expect(plain(first.load().entries)).toEqual(plain(entries(1, 5, 2)));
      await first.persist({ entries: [entry(6, 2)], logFirstIndex: 1, logLastIndex: 6 });
    } finally {
      await first.close();
    }
    const again = await RaftStorage.open(dir, IDENTITY);
    expect(again.logLastIndex).toBe(6);
    await again.close();
  });

  it('a store that another process has open', async () => {
    const dir = await populatedStore();
    const child = spawnNode(`
      const { RaftStorage } = require(${JSON.stringify(compiledStorageModule())});
      RaftStorage.open(${JSON.stringify(dir)}, { nodeId: 'node0', clusterId: 'cluster-a' })
        .then(() => { console.log('READY'); setInterval(() => {}, 1000); }, (e) => { console.log('FAILED ' + e.message); process.exit(1); });`);
    try {
      await waitForLine(child, /^READY$/);
      await expectRefusal(dir, StorageLockedError, [`${dir} is in use by another raft-signer process`]);
      await expectRefusal(dir, StorageLockedError, [`${dir} is in use by another raft-signer process`]);
    } finally {
      await killAndWait(child);
    }
    await expectOpensIntact(dir);
  });
});

describe('RaftStorage.open accepts', () => {
  it('an empty directory, and one holding only lost+found', async () => {
    const dir = freshDir();
    fs.mkdirSync(path.join(dir, 'lost+found'));
    const store = await RaftStorage.open(dir, IDENTITY);
    expect(store.load().entries).toEqual([]);
    await store.close();
  });

  it('a store whose creation was interrupted before its meta record was written', async () => {
    const dir = freshDir();
    await tamper(dir, async () => undefined); // LevelDB files, no records
    const store = await RaftStorage.open(dir, IDENTITY);
    await store.close();
    await expect(RaftStorage.open(dir, { nodeId: 'other', clusterId: 'cluster-a' })).rejects.toThrow(StorageIdentityError);
  });

  it('a flipped byte anywhere in a table file is refused or harmless, never wrong data', async () => {
    const pristine = await populatedStore();
    await (await RaftStorage.open(pristine, IDENTITY)).close(); // data now in a table file
    const table = fs.readdirSync(pristine).find((n) => n.endsWith('.ldb'))!;
    const size = fs.statSync(path.join(pristine, table)).size;
    let refused = 0;
    const positions = 40;
    for (let k = 0; k < positions; k++) {
      const dir = freshDir();
      for (const n of fs.readdirSync(pristine)) fs.copyFileSync(path.join(pristine, n), path.join(dir, n));
      const bytes = fs.readFileSync(path.join(dir, table));
      bytes[Math.floor((k * size) / positions)] ^= 0x10;
      fs.writeFileSync(path.join(dir, table), bytes);
      try {
        const store = await RaftStorage.open(dir, IDENTITY);
        try {
          expect(plain(store.load().entries)).toEqual(plain(entries(1, 5, 2)));
          expect(store.load().hardState).toEqual({ term: 2, vote: 'node0', commit: 3 });
          expect(Buffer.from((await store.getStateMachine(Buffer.from('chain/pk')))!).toString()).toBe('h=5');
        } finally {
          await store.close();
        }
      } catch (e) {
        if (!(e instanceof StorageCorruptError)) throw e;
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(positions / 2);
  });
});
