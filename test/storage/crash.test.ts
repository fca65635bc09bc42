// Crashes: a batch that never completed leaves the previous state, whole and readable; a process
// killed at any moment leaves a store that opens, holds everything acknowledged, and never shows
// the log without the state-machine record written in the same batch (or the other way round).

import * as fs from 'fs';
import * as path from 'path';
import { RaftStorage } from '../../src/storage/raft_storage';
import { compiledStorageModule, entries, hardState, IDENTITY, killAndWait, newestWal, plain, spawnNode, tempDir, waitForLine } from './helpers';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function freshDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

async function appliedRecord(store: RaftStorage): Promise<string | undefined> {
  const v = await store.getStateMachine(Buffer.from('applied'));
  return v === undefined ? undefined : Buffer.from(v).toString();
}

describe('RaftStorage after a crash', () => {
  it('a persist whose batch was torn mid-write leaves the previous state readable', async () => {
    const dir = freshDir();
    let store = await RaftStorage.open(dir, IDENTITY);
    // State A, then a reopen so that A lives in a table file and the write-ahead log starts empty.
    await store.persist({ hardState: hardState(1, 2), entries: entries(1, 3, 1), logFirstIndex: 1, logLastIndex: 3 }, [
      { type: 'put', key: Buffer.from('applied'), value: Buffer.from('2') },
    ]);
    await store.close();
    store = await RaftStorage.open(dir, IDENTITY);
    const wal = newestWal(dir);
    const sizeBefore = fs.statSync(wal).size;
    // Batch B: new term, entries, commit and a state-machine record, all in one write.
    await store.persist({ hardState: hardState(2, 5), entries: entries(4, 6, 2), logFirstIndex: 1, logLastIndex: 6 }, [
      { type: 'put', key: Buffer.from('applied'), value: Buffer.from('5') },
    ]);
    await store.close();
    const walBytes = fs.readFileSync(wal);
    const recordLength = walBytes.length - sizeBefore;
    expect(recordLength).toBeGreaterThan(100); // B is in the log, not yet in a table

    // Cut B anywhere: inside the 7-byte record header, inside the batch, one byte short.
    for (const keep of [1, 6, 7, Math.floor(recordLength / 2), recordLength - 1]) {
      const copy = freshDir();
      for (const n of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, n), path.join(copy, n));
      fs.truncateSync(path.join(copy, path.basename(wal)), sizeBefore + keep);
      const reopened = await RaftStorage.open(copy, IDENTITY);
      try {
        expect({ keep, entries: plain(reopened.load().entries) }).toEqual({ keep, entries: plain(entries(1, 3, 1)) });
        expect(reopened.load().hardState).toEqual({ term: 1, vote: 'node0', commit: 2 });
        expect(await appliedRecord(reopened)).toBe('2');
      } finally {
        await reopened.close();
      }
    }

    // And uncut, B is there in full.
    const whole = await RaftStorage.open(dir, IDENTITY);
    expect(whole.load().hardState).toEqual({ term: 2, vote: 'node0', commit: 5 });
    expect(plain(whole.load().entries)).toEqual(plain([...entries(1, 3, 1), ...entries(4, 6, 2)]));
    expect(await appliedRecord(whole)).toBe('5');
    await whole.close();
  });

  it.each([[5], [60], [250]])('a process killed after %i acknowledged persists loses none of them', async (killAfter) => {
    const dir = freshDir();
    const child = spawnNode(`
      const { RaftStorage } = require(${JSON.stringify(compiledStorageModule())});
      (async () => {
        const store = await RaftStorage.open(${JSON.stringify(dir)}, { nodeId: 'node0', clusterId: 'cluster-a' });
        const data = Buffer.alloc(150, 1);
        for (let i = 1; ; i++) {
          // Each batch: one entry, the hard state, the state-machine record of the entry before it;
          // a snapshot and compaction every 40 entries.
          const request = { hardState: { term: 1, vote: 'node0', commit: i - 1 }, entries: [{ index: i, term: 1, type: 0, data }],
                            logFirstIndex: store.logFirstIndex, logLastIndex: i };
          if (i % 40 === 0) {
            request.snapshot = { metadata: { index: i - 1, term: 1, confState: { voters: ['node0'], learners: [] } }, data: Buffer.from(String(i - 1)) };
            request.logFirstIndex = i;
          }
          await store.persist(request, [{ type: 'put', key: Buffer.from('applied'), value: Buffer.from(String(i - 1)) }]);
          console.log('ACK ' + i);
        }
      })().catch((e) => { console.log('FAILED ' + e.stack); process.exit(1); });`);
    let lastAck = 0;
    try {
      const line = await waitForLine(child, new RegExp(`^(ACK ${killAfter}|FAILED.*)$`));
      expect(line).toBe(`ACK ${killAfter}`);
      lastAck = killAfter;
    } finally {
      await killAndWait(child);
    }
    const store = await RaftStorage.open(dir, IDENTITY);
    try {
      const last = store.logLastIndex;
      expect(last).toBeGreaterThanOrEqual(lastAck);
      // Whatever the kill interrupted, every batch is all there or not at all.
      expect(store.load().hardState.commit).toBe(last - 1);
      expect(await appliedRecord(store)).toBe(String(last - 1));
      const snapshotIndex = store.snapshotMetadata?.index ?? 0;
      expect(snapshotIndex).toBe(last >= 40 ? Math.floor(last / 40) * 40 - 1 : 0);
      expect(store.load().entries.map((e) => e.index)).toEqual(Array.from({ length: last - snapshotIndex }, (_, k) => snapshotIndex + 1 + k));
    } finally {
      await store.close();
    }
  });
});
