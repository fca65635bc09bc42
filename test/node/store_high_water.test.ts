// The store high-water record: a data directory put back from an older copy is refused at start.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log/logger';
import {
  checkStoreHighWater,
  compareStoreHighWater,
  readStoreHighWater,
  RestoredStoreError,
  StoreHighWater,
  storeHighWaterPath,
  StoreHighWaterFileError,
  StoreHighWaterRecorder,
  writeStoreHighWater,
} from '../../src/node/store_high_water';

const ID = 'ab'.repeat(16);
const OTHER = 'cd'.repeat(16);
let home: string;

/** A mark of store ID; `over` changes some fields. */
function mark(over: Partial<StoreHighWater> = {}): StoreHighWater {
  return { storeId: ID, term: 5, vote: 'node0', commit: 100, lastIndex: 102, lastTerm: 5, ...over };
}

const REJOIN = { nodeId: 'node1', home: '/etc/raft-signer', address: '10.0.0.2:26660', endpoints: ['10.0.0.1:26660', '10.0.0.3:26660'] };

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'high-water-'));
});
afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

function check(now: StoreHighWater): void {
  checkStoreHighWater({ home, rejoin: REJOIN, dataDir: '/var/lib/raft-signer/data', now, logger: silentLogger() });
}

describe('compareStoreHighWater', () => {
  it.each<[string, Partial<StoreHighWater>, string]>([
    ['the same', {}, 'same-store'],
    ['a higher term with a new vote', { term: 6, vote: 'node2', lastTerm: 6, lastIndex: 103 }, 'same-store'],
    ['a higher commit and a longer log', { commit: 101, lastIndex: 110 }, 'same-store'],
    ['a log replaced by a higher-term one, shorter', { term: 7, vote: '', lastTerm: 7, lastIndex: 101 }, 'same-store'],
    ['a lower term', { term: 4, lastTerm: 4 }, 'behind'],
    ['the vote of this term forgotten', { vote: '' }, 'behind'],
    ['another vote in the same term', { vote: 'node2' }, 'behind'],
    ['a lower commit', { commit: 99 }, 'behind'],
    ['fewer log entries of the same last term (acknowledged entries forgotten)', { lastIndex: 101 }, 'behind'],
    ['a last entry of a lower term', { lastTerm: 4, lastIndex: 150 }, 'behind'],
  ])('%s: %s', (_what, now, verdict) => {
    expect(compareStoreHighWater(mark(), mark(now))).toBe(verdict);
  });

  it('a vote in a term where the record had none is fine', () => {
    expect(compareStoreHighWater(mark({ vote: '' }), mark({ vote: 'node1' }))).toBe('same-store');
  });

  it('another store is new if it is empty, and another store otherwise', () => {
    const empty = { storeId: OTHER, term: 0, vote: '', commit: 0, lastIndex: 0, lastTerm: 0 };
    expect(compareStoreHighWater(mark(), empty)).toBe('new-store');
    expect(compareStoreHighWater(mark(), { ...empty, term: 9, commit: 200, lastIndex: 200, lastTerm: 9 })).toBe('other-store');
    expect(compareStoreHighWater(mark(), { ...empty, term: 1 })).toBe('other-store');
    expect(compareStoreHighWater(mark(), { ...empty, lastIndex: 1, lastTerm: 0 })).toBe('other-store');
  });
});

describe('checkStoreHighWater at start', () => {
  it('lets a new empty store with no record start (and writes the record at once), then an equal or newer state, or a new empty store', () => {
    const empty = { storeId: ID, term: 0, vote: '', commit: 0, lastIndex: 0, lastTerm: 0 };
    check(empty);
    expect(readStoreHighWater(home)).toEqual(empty);
    writeStoreHighWater(home, mark());
    check(mark());
    check(mark({ commit: 120, lastIndex: 121 }));
    check({ storeId: OTHER, term: 0, vote: '', commit: 0, lastIndex: 0, lastTerm: 0 });
    expect(readStoreHighWater(home)?.storeId).toBe(OTHER);
  });

  it('refuses a store that holds something when its record is missing: deleting the record is no way past the check', () => {
    let message = '';
    try {
      check(mark());
    } catch (err) {
      expect(err).toBeInstanceOf(StoreHighWaterFileError);
      message = (err as Error).message;
    }
    expect(message).toContain('it is missing');
    expect(message).toContain('raft-signer cluster remove --id node1 --home /etc/raft-signer');
    expect(message).toContain('raft-signer cluster add-learner --id node1 --address 10.0.0.2:26660 --admin ADMIN_DIR --endpoints 10.0.0.1:26660,10.0.0.3:26660');
    expect(message).not.toMatch(/delete/);
  });

  it('refuses the same store behind its record, and says what happened and what to do', () => {
    writeStoreHighWater(home, mark());
    expect(() => check(mark({ commit: 12, lastIndex: 12 }))).toThrow(RestoredStoreError);
    let message = '';
    try {
      check(mark({ term: 4, vote: 'node1', lastTerm: 4 }));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('older copy');
    expect(message).toContain('term 5 (vote node0), commit index 100, last entry 102 of term 5');
    expect(message).toContain('term 4 (vote node1), commit index 100, last entry 102 of term 4');
    expect(message).toContain('raft-signer cluster remove --id node1 --home /etc/raft-signer');
    expect(message).toContain('raft-signer cluster promote --id node1 --admin ADMIN_DIR --endpoints 10.0.0.1:26660,10.0.0.3:26660');
  });

  it('refuses another store that already holds something (an older store of this node put back)', () => {
    writeStoreHighWater(home, mark());
    expect(() => check(mark({ storeId: OTHER, term: 2, commit: 17, lastIndex: 17, lastTerm: 2 }))).toThrow(RestoredStoreError);
    expect(() => check(mark({ storeId: OTHER }))).toThrow(/holds another store than the one this node last ran with/);
  });

  it.each([
    ['not JSON', '{"storeId": '],
    ['a wrong shape', JSON.stringify({ ...mark(), term: -1 })],
    ['missing the log position', JSON.stringify({ storeId: ID, term: 1, vote: '', commit: 3 })],
    ['a short id', JSON.stringify({ ...mark(), storeId: 'abc' })],
    ['empty', ''],
  ])('refuses a record that is %s while the store holds something, with the learner procedure, never "delete it"', (_what, text) => {
    fs.writeFileSync(storeHighWaterPath(home), text);
    expect(() => check(mark({ term: 9 }))).toThrow(StoreHighWaterFileError);
    expect(() => check(mark({ term: 9 }))).toThrow(/cluster add-learner --id node1/);
    expect(() => check(mark({ term: 9 }))).not.toThrow(/delete/);
    expect(() => readStoreHighWater(home)).not.toThrow(/delete/);
    // A new empty store has nothing to forget: it starts, and the record starts over.
    const empty = { storeId: OTHER, term: 0, vote: '', commit: 0, lastIndex: 0, lastTerm: 0 };
    check(empty);
    expect(readStoreHighWater(home)).toEqual(empty);
  });
});

describe('StoreHighWaterRecorder', () => {
  it('writes the mark at start, again only when it moved, and once more at stop', () => {
    let now = mark({ term: 1, commit: 5 });
    const recorder = new StoreHighWaterRecorder(home, () => now, silentLogger());
    recorder.start(60_000);
    expect(readStoreHighWater(home)).toEqual(now);
    const file = storeHighWaterPath(home);
    const written = fs.statSync(file).ino;
    recorder.record();
    expect(fs.statSync(file).ino).toBe(written); // unchanged: not rewritten
    now = mark({ term: 2, commit: 9 });
    recorder.record();
    expect(readStoreHighWater(home)).toEqual(now);
    now = mark({ term: 2, commit: 9, lastIndex: 130 });
    recorder.stop();
    expect(readStoreHighWater(home)).toEqual(now);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('survives a failed write (it only guards) and writes again later', () => {
    const now = mark();
    const missingHome = path.join(home, 'file-not-dir');
    fs.writeFileSync(missingHome, 'x');
    const recorder = new StoreHighWaterRecorder(missingHome, () => now, silentLogger());
    expect(() => recorder.record()).not.toThrow();
    expect(fs.readFileSync(missingHome, 'utf8')).toBe('x');
    fs.rmSync(missingHome);
    fs.mkdirSync(missingHome);
    recorder.record();
    expect(readStoreHighWater(missingHome)).toEqual(now);
  });
});
