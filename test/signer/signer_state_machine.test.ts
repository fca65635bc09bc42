// The replicated signer state machine (signer_state_machine.ts), driven only through what the
// driver does with it: apply() of committed entries carrying encoded commands, restore() of a
// snapshot image, snapshot(), and load() from the ops it returned. The FilePV semantics are
// checked end to end through the log: outcomes per request, records, store writes.

import { silentLogger } from '../../src/log/logger';
import { Entry, EntryType } from '../../src/raft/types';
import { StateMachineOp } from '../../src/storage/raft_storage';
import { KeyRing } from '../../src/signer/key_ring';
import { decodeSignerSnapshot, decodeStoredRecord, SignerCodecError, StoredRecord } from '../../src/signer/signer_codec';
import { SignerStateMachine } from '../../src/signer/signer_state_machine';
import { SignRequest } from '../../src/cometbft/sign_types';
import { proposalRequest, voteRequest } from '../support/sign_requests';
import {
  bothChains,
  CHAIN_A,
  CHAIN_B,
  expectRefused,
  expectSignedAndValid,
  importEntry,
  KEY_A,
  KEY_B,
  MemoryMachineStore,
  noopEntry,
  plain,
  signEntry,
  signatureOf,
  watermark,
} from './signer_test_support';

const pkA = KEY_A.publicKey;
const pkB = KEY_B.publicKey;

function machine(keys: KeyRing = bothChains()): SignerStateMachine {
  return new SignerStateMachine(keys, silentLogger());
}

/** A vote on chain-a with KEY_A. */
function voteA(height: number, type: 'prevote' | 'precommit', block: string, extra: { round?: number; time?: number } = {}): SignRequest {
  return voteRequest(CHAIN_A, pkA, { height, type, block, ...extra });
}

/** Applies one entry and answers the outcome of its only request. */
function applyOne(m: SignerStateMachine, index: number, request: SignRequest, term = 1) {
  const ops = m.apply([signEntry(index, term, [request])]);
  const decision = m.decisionAt(index);
  expect(decision?.signs).toHaveLength(1);
  return { outcome: decision?.signs[0].outcome, ops };
}

/** The records the ops put, decoded. */
function recordsWritten(ops: StateMachineOp[]): StoredRecord[] {
  return ops.filter((op) => op.type === 'put' && op.key[0] === 0x01).map((op) => decodeStoredRecord((op as { value: Uint8Array }).value));
}

describe('FilePV rules through apply()', () => {
  it('the first request for a key is signed, recorded at its index, and the signature verifies', () => {
    const m = machine();
    const req = voteA(10, 'prevote', 'A');
    const { outcome, ops } = applyOne(m, 1, req, 3);
    const sig = expectSignedAndValid(outcome, req);
    expect(Buffer.from(sig).equals(Buffer.from(KEY_A.sign(req.signBytes)))).toBe(true);
    const rec = m.recordOf(CHAIN_A, pkA);
    expect(rec?.index).toBe(1);
    expect(plain(rec?.record)).toEqual(plain({ height: 10n, round: 0, step: 2, signBytes: req.signBytes, signature: sig }));
    // The write: the record and the applied index, nothing else.
    expect(plain(recordsWritten(ops))).toEqual(plain([rec]));
    expect(ops).toHaveLength(2);
    expect(m.applied).toBe(1);
  });

  describe('after a precommit at height 10 round 1', () => {
    const signed = voteA(10, 'precommit', 'A', { round: 1, time: 1_700_000_000 });
    let m: SignerStateMachine;
    let sig: Uint8Array;

    beforeEach(() => {
      m = machine();
      sig = expectSignedAndValid(applyOne(m, 1, signed).outcome, signed);
    });

    function expectRecordUnchanged(ops: StateMachineOp[]): void {
      expect(m.recordOf(CHAIN_A, pkA)?.index).toBe(1);
      expect(Buffer.from(m.recordOf(CHAIN_A, pkA)!.record.signBytes).equals(Buffer.from(signed.signBytes))).toBe(true);
      expect(recordsWritten(ops)).toEqual([]);
    }

    it('a lower height is refused as a height regression', () => {
      const { outcome, ops } = applyOne(m, 2, voteA(9, 'precommit', 'A', { round: 5 }));
      expectRefused(outcome, 'height-regression', /got 9, last signed 10/);
      expectRecordUnchanged(ops);
      expect(m.applied).toBe(2);
    });

    it('a lower round is refused as a round regression', () => {
      const { outcome, ops } = applyOne(m, 2, voteA(10, 'precommit', 'A', { round: 0 }));
      expectRefused(outcome, 'round-regression', /got 0, last signed 1/);
      expectRecordUnchanged(ops);
    });

    it('a lower step is refused as a step regression', () => {
      const prevote = applyOne(m, 2, voteA(10, 'prevote', 'A', { round: 1 }));
      expectRefused(prevote.outcome, 'step-regression');
      expectRecordUnchanged(prevote.ops);
      const proposal = applyOne(m, 3, proposalRequest(CHAIN_A, pkA, { height: 10, round: 1, block: 'A' }));
      expectRefused(proposal.outcome, 'step-regression');
      expectRecordUnchanged(proposal.ops);
    });

    it('the same request again gets the identical signature, and nothing is written', () => {
      const { outcome, ops } = applyOne(m, 2, signed);
      expect(outcome?.kind).toBe('signed');
      expect(Buffer.from(signatureOf(outcome)).equals(Buffer.from(sig))).toBe(true);
      expectRecordUnchanged(ops);
    });

    it('the same vote with another timestamp gets the stored signature and the stored timestamp', () => {
      const later = voteA(10, 'precommit', 'A', { round: 1, time: 1_700_000_009 });
      const { outcome, ops } = applyOne(m, 2, later);
      expect(outcome?.kind).toBe('signed-with-stored-timestamp');
      if (outcome?.kind !== 'signed-with-stored-timestamp') return;
      expect(Buffer.from(outcome.signature).equals(Buffer.from(sig))).toBe(true);
      expect(outcome.timestamp).toEqual({ seconds: 1_700_000_000n, nanos: 0 });
      expectRecordUnchanged(ops);
    });

    it('nil instead of the block, or another block, is conflicting data', () => {
      const nil = applyOne(m, 2, voteA(10, 'precommit', 'nil', { round: 1 }));
      expectRefused(nil.outcome, 'conflicting-data', /block id/);
      expectRecordUnchanged(nil.ops);
      const other = applyOne(m, 3, voteA(10, 'precommit', 'B', { round: 1, time: 1_700_000_000 }));
      expectRefused(other.outcome, 'conflicting-data', /block id/);
      expectRecordUnchanged(other.ops);
    });

    it('a higher round, step or height signs and moves the record', () => {
      const next = voteA(10, 'prevote', 'B', { round: 2 });
      expectSignedAndValid(applyOne(m, 2, next).outcome, next);
      expect(m.recordOf(CHAIN_A, pkA)?.index).toBe(2);
      expect(m.recordOf(CHAIN_A, pkA)?.record.round).toBe(2);
    });
  });

  it('a block after a nil vote is conflicting data', () => {
    const m = machine();
    applyOne(m, 1, voteA(3, 'prevote', 'nil'));
    expectRefused(applyOne(m, 2, voteA(3, 'prevote', 'A')).outcome, 'conflicting-data');
  });

  it('proposals: another POL round is conflicting data, another timestamp the stored one', () => {
    const m = machine();
    const p = proposalRequest(CHAIN_A, pkA, { height: 20, round: 2, block: 'P', polRound: -1, time: 1_700_000_100 });
    const sig = expectSignedAndValid(applyOne(m, 1, p).outcome, p);
    const otherPol = proposalRequest(CHAIN_A, pkA, { height: 20, round: 2, block: 'P', polRound: 1, time: 1_700_000_100 });
    expectRefused(applyOne(m, 2, otherPol).outcome, 'conflicting-data', /pol round/);
    const later = proposalRequest(CHAIN_A, pkA, { height: 20, round: 2, block: 'P', polRound: -1, time: 1_700_000_200 });
    const o = applyOne(m, 3, later).outcome;
    expect(o).toEqual({ kind: 'signed-with-stored-timestamp', signature: sig, timestamp: { seconds: 1_700_000_100n, nanos: 0 } });
  });

  it('two conflicting requests in one entry: the first is signed, the second refused', () => {
    const m = machine();
    const a = voteA(5, 'prevote', 'A');
    const b = voteA(5, 'prevote', 'B');
    m.apply([signEntry(1, 2, [a, b])]);
    const d = m.decisionAt(1);
    expect(d?.term).toBe(2);
    expect(d?.signs.map((s) => s.request.signBytes)).toEqual([a.signBytes, b.signBytes]);
    expectSignedAndValid(d?.signs[0].outcome, a);
    expectRefused(d?.signs[1].outcome, 'conflicting-data');
    expect(Buffer.from(m.recordOf(CHAIN_A, pkA)!.record.signBytes).equals(Buffer.from(a.signBytes))).toBe(true);
  });

  it('records are kept per (chain, key): one chain at a high height does not block another', () => {
    const m = machine();
    const highA = voteA(100, 'precommit', 'A');
    const lowB = voteRequest(CHAIN_B, pkB, { height: 5, type: 'prevote', block: 'A' });
    // The same chain with another key: its own record (this ring has no such key, see below).
    const otherKey = voteRequest(CHAIN_A, pkB, { height: 7, type: 'prevote', block: 'A' });
    // Another chain whose sign bytes are identical except for the chain id.
    const sameHrsB = voteRequest(CHAIN_B, pkB, { height: 100, type: 'precommit', block: 'B' });
    m.apply([signEntry(1, 1, [highA, lowB]), signEntry(2, 1, [otherKey, sameHrsB])]);
    expectSignedAndValid(m.decisionAt(1)?.signs[0].outcome, highA);
    expectSignedAndValid(m.decisionAt(1)?.signs[1].outcome, lowB);
    expect(m.decisionAt(2)?.signs[0].outcome.kind).toBe('signed');
    expectSignedAndValid(m.decisionAt(2)?.signs[1].outcome, sameHrsB);
    expect(m.allRecords().map((r) => [r.chainId, Buffer.from(r.pubKey).toString('hex'), r.record.height])).toEqual(
      expect.arrayContaining([
        [CHAIN_A, Buffer.from(pkA).toString('hex'), 100n],
        [CHAIN_B, Buffer.from(pkB).toString('hex'), 100n],
        [CHAIN_A, Buffer.from(pkB).toString('hex'), 7n],
      ]),
    );
    expect(m.allRecords()).toHaveLength(3);
    // The signature of each chain is its own key's.
    expect(Buffer.from(m.recordOf(CHAIN_B, pkB)!.record.signature).equals(Buffer.from(KEY_B.sign(sameHrsB.signBytes)))).toBe(true);
  });

  it('a request whose sign bytes say another HRS than its fields is invalid and changes nothing', () => {
    const m = machine();
    const first = voteA(10, 'prevote', 'A');
    applyOne(m, 1, first);
    const before = m.snapshot();
    // Fields say height 11, bytes say height 12.
    const lying = { ...voteA(12, 'prevote', 'B'), height: 11n };
    const { outcome, ops } = applyOne(m, 2, lying);
    expectRefused(outcome, 'invalid-request', /request says height 11 .* sign bytes say height 12/);
    expect(recordsWritten(ops)).toEqual([]);
    // Also when nothing was recorded yet for the key: no record is created.
    const fresh = { ...voteRequest(CHAIN_B, pkB, { height: 3, type: 'precommit', block: 'A' }), step: 2 as const };
    expectRefused(applyOne(m, 3, fresh).outcome, 'invalid-request');
    expect(m.recordOf(CHAIN_B, pkB)).toBeNull();
    expect(Buffer.from(m.snapshot()).equals(Buffer.from(before))).toBe(true);
    expect(m.applied).toBe(3);
  });
  it('sign bytes naming another chain than the request are an invalid request (one key may serve two chains)', () => {
    const m = machine(
      new KeyRing([
        [CHAIN_A, KEY_A],
        [CHAIN_B, KEY_A],
      ]),
    );
    // Labelled chain-a, but the bytes are a chain-b prevote: checked against chain-a's record, it
    // would leave chain-b's record blind to it.
    const smuggled: SignRequest = { ...voteRequest(CHAIN_B, pkA, { height: 10, type: 'prevote', block: 'A' }), chainId: CHAIN_A };
    const honest = voteRequest(CHAIN_B, pkA, { height: 10, type: 'prevote', block: 'B' });
    m.apply([signEntry(1, 1, [smuggled]), signEntry(2, 1, [honest])]);
    expectRefused(m.decisionAt(1)?.signs[0].outcome, 'invalid-request', /chain/);
    expect(m.recordOf(CHAIN_A, pkA)).toBeNull();
    expectSignedAndValid(m.decisionAt(2)?.signs[0].outcome, honest);
    expectRefused(m.evaluate(smuggled).outcome, 'invalid-request');
  });
});

describe('imports', () => {
  it('raise the watermark only: a lower or equal import is ignored, a higher one imported', () => {
    const m = machine();
    const signed = voteA(50, 'prevote', 'A', { round: 1 });
    applyOne(m, 1, signed);
    const snapBefore = m.snapshot();
    const ops = m.apply([
      importEntry(2, 1, [
        { chainId: CHAIN_A, pubKey: pkA, record: watermark(49n, 9, 3) },
        { chainId: CHAIN_A, pubKey: pkA, record: watermark(50n, 1, 2) },
        { chainId: CHAIN_A, pubKey: pkA, record: watermark(50n, 0, 3) },
      ]),
    ]);
    expect(m.decisionAt(2)?.imports.map((i) => i.kind)).toEqual(['ignored', 'ignored', 'ignored']);
    expect(m.decisionAt(2)?.imports[0].message).toMatch(/not above the current record 50\/1\/2/);
    expect(m.decisionAt(2)?.signs).toEqual([]);
    expect(recordsWritten(ops)).toEqual([]);
    expect(Buffer.from(m.snapshot()).equals(Buffer.from(snapBefore))).toBe(true);

    m.apply([importEntry(3, 1, [{ chainId: CHAIN_A, pubKey: pkA, record: watermark(50n, 1, 3) }])]);
    expect(m.decisionAt(3)?.imports).toEqual([{ kind: 'imported', message: expect.stringMatching(/50\/1\/3/) as unknown as string }]);
    expect(m.recordOf(CHAIN_A, pkA)?.index).toBe(3);
    expect(m.recordOf(CHAIN_A, pkA)?.record.step).toBe(3);
    // Everything at or below the new watermark is now refused.
    expectRefused(applyOne(m, 4, voteA(50, 'precommit', 'A', { round: 1 })).outcome, 'conflicting-data', /no sign bytes/);
    expectRefused(applyOne(m, 5, voteA(50, 'precommit', 'A', { round: 0 })).outcome, 'round-regression');
    // Above it: signed.
    const above = voteA(50, 'prevote', 'A', { round: 2 });
    expectSignedAndValid(applyOne(m, 6, above).outcome, above);
  });

  it('an import for a key with no record is taken as it is', () => {
    const m = machine();
    m.apply([importEntry(1, 1, [{ chainId: CHAIN_B, pubKey: pkB, record: watermark(1000n, 0, 2) }])]);
    expect(m.decisionAt(1)?.imports[0].kind).toBe('imported');
    expectRefused(applyOne(m, 2, voteRequest(CHAIN_B, pkB, { height: 999, type: 'precommit', block: 'A' })).outcome, 'height-regression');
  });

  it('a step-0 import ("nothing signed yet at this height and round") lets a proposal at that height and round sign', () => {
    const m = machine();
    m.apply([importEntry(1, 1, [{ chainId: CHAIN_A, pubKey: pkA, record: watermark(70n, 2, 0) }])]);
    expect(m.decisionAt(1)?.imports[0].kind).toBe('imported');
    const p = proposalRequest(CHAIN_A, pkA, { height: 70, round: 2, block: 'A' });
    expectSignedAndValid(applyOne(m, 2, p).outcome, p);
    expectRefused(applyOne(m, 3, proposalRequest(CHAIN_A, pkA, { height: 70, round: 1, block: 'A' })).outcome, 'round-regression');
  });
});

describe('decisions, store writes and loading', () => {
  it('decisionAt holds the term and the per-request outcomes of every applied command entry, in order', () => {
    const m = machine();
    const a = voteA(1, 'prevote', 'A');
    const b = voteA(1, 'precommit', 'A');
    const old = voteA(0, 'precommit', 'A');
    m.apply([noopEntry(1, 4), signEntry(2, 4, [a, b]), signEntry(3, 5, [old])]);
    expect(m.decisionAt(1)).toBeUndefined();
    const d2 = m.decisionAt(2)!;
    expect(d2.term).toBe(4);
    expect(d2.imports).toEqual([]);
    expect(plain(d2.signs.map((s) => s.request))).toEqual(plain([a, b]));
    expectSignedAndValid(d2.signs[0].outcome, a);
    expectSignedAndValid(d2.signs[1].outcome, b);
    expect(m.decisionAt(3)?.term).toBe(5);
    expectRefused(m.decisionAt(3)?.signs[0].outcome, 'height-regression');
    expect(m.decisionAt(4)).toBeUndefined();
  });

  it('replaying the returned ops through load() reproduces the records and the applied index', async () => {
    const m = machine();
    const store = new MemoryMachineStore();
    const batches: Entry[][] = [
      [noopEntry(1, 1), signEntry(2, 1, [voteA(1, 'prevote', 'A'), voteRequest(CHAIN_B, pkB, { height: 4, type: 'prevote', block: 'B' })])],
      [signEntry(3, 1, [voteA(1, 'precommit', 'A')])],
      [{ index: 4, term: 2, type: EntryType.ConfChange, data: Uint8Array.of(1, 2, 3) }, noopEntry(5, 2)],
      [importEntry(6, 2, [{ chainId: CHAIN_B, pubKey: pkB, record: watermark(9n, 0, 0) }]), signEntry(7, 2, [voteA(2, 'prevote', 'nil')])],
      [signEntry(8, 2, [voteA(1, 'prevote', 'A')])], // a regression: no record write
    ];
    for (const batch of batches) store.write(m.apply(batch));
    const loaded = await SignerStateMachine.load(store, bothChains(), silentLogger());
    expect(loaded.applied).toBe(8);
    expect(plain(loaded.allRecords())).toEqual(plain(m.allRecords()));
    expect(loaded.allRecords().map((r) => r.index).sort()).toEqual([6, 7]);
    expect(Buffer.from(loaded.snapshot()).equals(Buffer.from(m.snapshot()))).toBe(true);
    // The loaded machine decides the next entry exactly as the original does.
    const next = [signEntry(9, 3, [voteA(2, 'prevote', 'A'), voteRequest(CHAIN_B, pkB, { height: 9, type: 'prevote', block: 'C' })])];
    m.apply(next);
    loaded.apply(next);
    expect(plain(loaded.decisionAt(9))).toEqual(plain(m.decisionAt(9)));
  });

  it('load() of an empty store is a fresh machine', async () => {
    const loaded = await SignerStateMachine.load(new MemoryMachineStore(), bothChains(), silentLogger());
    expect(loaded.applied).toBe(0);
    expect(loaded.allRecords()).toEqual([]);
  });
});

describe('snapshots', () => {
  it('restore() on a machine reproduces the image (indexes = the snapshot index) and drops what it held', async () => {
    const source = machine();
    source.apply([
      signEntry(1, 1, [voteA(10, 'prevote', 'A')]),
      signEntry(2, 1, [voteRequest(CHAIN_B, pkB, { height: 3, type: 'precommit', block: 'A' })]),
      signEntry(3, 1, [voteA(10, 'precommit', 'A')]),
    ]);
    const image = source.snapshot();

    const target = machine();
    target.apply([signEntry(1, 1, [voteA(500, 'prevote', 'Z')]), importEntry(2, 1, [{ chainId: 'chain-old', pubKey: pkA, record: watermark(1n, 0, 1) }])]);
    const store = new MemoryMachineStore();
    store.write(target.apply([noopEntry(3, 1)]));
    const ops = target.restore(image, 40);
    store.write(ops, { clear: true });

    expect(target.applied).toBe(40);
    expect(target.recordOf('chain-old', pkA)).toBeNull();
    expect(target.decisionAt(1)).toBeUndefined();
    const expected = source.allRecords().map((r) => ({ ...r, index: 40 }));
    expect(plain(target.allRecords())).toEqual(plain(expected));
    // Below the restored record: refused. Above it but below the dropped record (height 500): to be signed.
    expectRefused(target.evaluate(voteA(10, 'prevote', 'A')).outcome, 'step-regression');
    expect(target.evaluate(voteA(11, 'prevote', 'A')).outcome).toBeNull();
    // The returned writes hold the same state.
    const loaded = await SignerStateMachine.load(store, bothChains(), silentLogger());
    expect(loaded.applied).toBe(40);
    expect(plain(loaded.allRecords())).toEqual(plain(expected));
  });

  it('restore() of an empty image clears everything', () => {
    const m = machine();
    m.apply([signEntry(1, 1, [voteA(10, 'prevote', 'A')])]);
    const ops = m.restore(new Uint8Array(0), 7);
    expect(m.allRecords()).toEqual([]);
    expect(m.applied).toBe(7);
    expect(ops).toHaveLength(1);
  });

  it('is deterministic: two machines applying the same entries produce identical snapshots and decisions', () => {
    const entries: Entry[] = [
      noopEntry(1, 1),
      signEntry(2, 1, [voteA(1, 'prevote', 'A'), voteRequest(CHAIN_B, pkB, { height: 2, type: 'prevote', block: 'A' })]),
      signEntry(3, 1, [voteA(1, 'prevote', 'B'), voteA(1, 'precommit', 'A')]),
      importEntry(4, 2, [{ chainId: CHAIN_B, pubKey: pkB, record: watermark(5n, 0, 3) }]),
      signEntry(5, 2, [proposalRequest(CHAIN_A, pkA, { height: 2, block: 'C' }), voteRequest(CHAIN_B, pkB, { height: 6, type: 'prevote', block: 'B' })]),
    ];
    const one = machine();
    const two = machine();
    // Same entries, different batching: the driver may hand them over in any grouping.
    one.apply(entries);
    for (const e of entries) two.apply([e]);
    expect(Buffer.from(one.snapshot()).equals(Buffer.from(two.snapshot()))).toBe(true);
    for (let i = 1; i <= 5; i++) expect(plain(one.decisionAt(i))).toEqual(plain(two.decisionAt(i)));
    expect(decodeSignerSnapshot(one.snapshot())).toHaveLength(2);
  });
});

describe('a node without the key', () => {
  it('records the same decision with an empty signature; a machine with the key does not sign it afterwards', () => {
    // It used to: a record without its signature was signed whenever it was read, which made every
    // such record (an imported one too) a signing oracle. Nothing is signed at read time now
    // (test/signer/import_verification.test.ts); the keyless record costs at most that one vote.
    const keyless = machine(new KeyRing());
    const req = voteA(30, 'precommit', 'A');
    const { outcome } = applyOne(keyless, 1, req);
    expect(outcome).toEqual({ kind: 'signed', signature: new Uint8Array(0) });
    expect(keyless.recordOf(CHAIN_A, pkA)?.record.signature).toHaveLength(0);
    expect(keyless.recordOf(CHAIN_A, pkA)?.record.height).toBe(30n);

    // The keyless node's image, restored on a node that has the key.
    const withKey = machine();
    withKey.restore(keyless.snapshot(), 1);
    expect(decodeSignerSnapshot(keyless.snapshot())[0].record.signature).toHaveLength(0);
    const ev = withKey.evaluate(req);
    expectRefused(ev.outcome, 'conflicting-data', /no signature/);
    expect(withKey.recordOf(CHAIN_A, pkA)!.record.signature).toHaveLength(0);
    expectRefused(applyOne(withKey, 2, req).outcome, 'conflicting-data');
    expectRefused(applyOne(withKey, 3, voteA(30, 'precommit', 'A', { time: 1_700_000_500 })).outcome, 'conflicting-data');
    // Higher heights sign as usual.
    expectSignedAndValid(applyOne(withKey, 4, voteA(31, 'prevote', 'A')).outcome, voteA(31, 'prevote', 'A'));
    // The keyless node itself can never release for that record: a repeat is refused there.
    expectRefused(applyOne(keyless, 2, req).outcome, 'conflicting-data');
  });

  it('the records of keyed and keyless nodes hold the same height, round, step and sign bytes', () => {
    const entries = [signEntry(1, 1, [voteA(5, 'prevote', 'A'), voteA(5, 'precommit', 'A')])];
    const keyless = machine(new KeyRing());
    const keyed = machine();
    keyless.apply(entries);
    keyed.apply(entries);
    const strip = (m: SignerStateMachine): unknown => plain(m.allRecords().map((r) => ({ ...r, record: { ...r.record, signature: null } })));
    expect(strip(keyless)).toEqual(strip(keyed));
  });
});

describe('entries that are not signer commands', () => {
  it('an undecodable command (an unknown field) makes apply throw', () => {
    const m = machine();
    const good = signEntry(1, 1, [voteA(1, 'prevote', 'A')]);
    const data = Buffer.concat([Buffer.from(good.data), Buffer.from([0x4a, 0x01, 0x00])]); // field 9, bytes
    expect(() => m.apply([{ index: 1, term: 1, type: EntryType.Normal, data }])).toThrow(/unknown field 9/);
    expect(m.recordOf(CHAIN_A, pkA)).toBeNull();
  });

  it('an entry that fails to decode does not count as applied', () => {
    const m = machine();
    applyOne(m, 1, voteA(1, 'prevote', 'A'));
    const bad = signEntry(2, 1, [voteA(2, 'prevote', 'A')]);
    bad.data = Uint8Array.from([...bad.data, 0x4a, 0x01, 0x00]); // an unknown field 9
    expect(() => m.apply([noopEntry(2, 1), { ...bad, index: 3 }])).toThrow(SignerCodecError);
    expect(m.applied).toBe(2);
    expect(m.recordOf(CHAIN_A, pkA)?.record.height).toBe(1n);
  });

  it('no-op and membership entries only advance the applied index', () => {
    const m = machine();
    applyOne(m, 1, voteA(1, 'prevote', 'A'));
    const before = m.snapshot();
    const ops = m.apply([noopEntry(2, 1), { index: 3, term: 1, type: EntryType.ConfChange, data: Uint8Array.of(0xff, 0xff) }]);
    expect(m.applied).toBe(3);
    expect(m.decisionAt(2)).toBeUndefined();
    expect(m.decisionAt(3)).toBeUndefined();
    expect(recordsWritten(ops)).toEqual([]);
    expect(ops).toHaveLength(1);
    expect(Buffer.from(m.snapshot()).equals(Buffer.from(before))).toBe(true);
  });
});
