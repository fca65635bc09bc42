// Imported states are verified where they take effect: when the state machine applies the entry,
// deterministically on every node (signer_state_machine.ts applyImport, signer_codec.ts
// importProblem). An entry is written here field by field, as a crafted or older leader could
// have logged it, so that apply's own check is what is tested, not the encoder's. And nothing is
// ever signed when a record is read: a record view carries only the signatures the log produced.

import { ProtoWriter } from '../../src/cometbft/protobuf';
import { EntryType, Entry } from '../../src/raft/types';
import { silentLogger } from '../../src/log/logger';
import { KeyRing } from '../../src/signer/key_ring';
import { encodeSignerCommand, ImportStateCommand, importProblem, SIGNER_FORMAT_VERSION, SignerCodecError } from '../../src/signer/signer_codec';
import { SignerStateMachine } from '../../src/signer/signer_state_machine';
import { SlashingRecord } from '../../src/cometbft/filepv_rules';
import { SignRequest } from '../../src/cometbft/sign_types';
import { verifyEd25519 } from '../../src/keys/validator_key';
import { proposalRequest, voteRequest } from '../support/sign_requests';
import { bothChains, CHAIN_A, CHAIN_B, expectRefused, expectSignedAndValid, KEY_A, KEY_B, signEntry, signatureOf, watermark } from './signer_test_support';

const pkA = KEY_A.publicKey;

function machine(keys: KeyRing = bothChains()): SignerStateMachine {
  return new SignerStateMachine(keys, silentLogger());
}

function voteA(height: number, type: 'prevote' | 'precommit', block: string, extra: { round?: number; time?: number } = {}): SignRequest {
  return voteRequest(CHAIN_A, pkA, { height, type, block, ...extra });
}

/** An import entry written by hand: whatever the record holds goes into the log as it is. */
function rawImportEntry(index: number, imp: ImportStateCommand, term = 1): Entry {
  const r = imp.record;
  const body = new ProtoWriter()
    .string(1, imp.chainId)
    .bytes(2, imp.pubKey)
    .sfixed64(3, r.height)
    .int32(4, r.round)
    .uint32(5, r.step)
    .bytes(6, r.signBytes)
    .bytes(7, r.signature)
    .uint64(8, 0n)
    .finish();
  return { index, term, type: EntryType.Normal, data: new ProtoWriter().uint32(1, SIGNER_FORMAT_VERSION).message(3, body).finish() };
}

/** A record as a FilePV that signed `req` writes it: its HRS, its bytes and its signature. */
function signedRecord(req: SignRequest, key = KEY_A): SlashingRecord {
  return { height: req.height, round: req.round, step: req.step, signBytes: req.signBytes, signature: key.sign(req.signBytes) };
}

function applyImport(m: SignerStateMachine, index: number, imp: ImportStateCommand) {
  m.apply([rawImportEntry(index, imp)]);
  const outcome = m.decisionAt(index)?.imports[0];
  expect(outcome).toBeDefined();
  return outcome!;
}

/** No record view of any machine carries a signature over `bytes`. */
function expectNeverSigned(machines: SignerStateMachine[], bytes: Uint8Array): void {
  for (const m of machines) {
    for (const r of m.allRecords()) expect(verifyEd25519(r.pubKey, bytes, r.record.signature)).toBe(false);
    const view = m.recordOf(CHAIN_A, pkA);
    if (view) expect(verifyEd25519(pkA, bytes, view.record.signature)).toBe(false);
  }
}

describe('imports carrying sign bytes are verified on apply', () => {
  // Regression: the sign bytes of an import were never looked at, and a record with sign bytes
  // but no signature was signed with the validator key on every read (recordOf / ChainState):
  // a signing oracle for any bytes, e.g. a nil prevote at an HRS already signed for a block.
  it('sign bytes without a signature (a nil prevote at an HRS signed for a block) are refused, and no read signs them', () => {
    const m = machine();
    const block = voteA(10, 'prevote', 'A');
    m.apply([signEntry(1, 1, [block])]);
    const nil = voteA(10, 'prevote', 'nil').signBytes;
    const out = applyImport(m, 2, { chainId: CHAIN_A, pubKey: pkA, record: { height: 15n, round: 0, step: 2, signBytes: nil, signature: new Uint8Array(0) } });
    expect(out.kind).toBe('refused');
    expect(out.message).toMatch(/no signature/);
    expect(m.recordOf(CHAIN_A, pkA)?.record.height).toBe(10n);
    expectNeverSigned([m], nil);
    expectRefused(m.evaluate(voteA(10, 'prevote', 'nil')).outcome, 'conflicting-data');
  });

  it('arbitrary bytes are refused', () => {
    const m = machine();
    const bytes = Uint8Array.from(Buffer.from('anything at all'));
    const tries: [Uint8Array, RegExp][] = [
      [new Uint8Array(0), /no signature/],
      [KEY_A.sign(bytes), /not canonical vote sign bytes/],
    ];
    for (const [signature, reason] of tries) {
      const out = applyImport(m, 1, { chainId: CHAIN_A, pubKey: pkA, record: { height: 20n, round: 0, step: 3, signBytes: bytes, signature } });
      expect(out.kind).toBe('refused');
      expect(out.message).toMatch(reason);
    }
    expect(m.recordOf(CHAIN_A, pkA)).toBeNull();
    expectNeverSigned([m], bytes);
  });

  const cases: [string, () => ImportStateCommand, RegExp][] = [
    [
      'sign bytes of another chain',
      () => ({ chainId: CHAIN_A, pubKey: pkA, record: signedRecord(voteRequest('another-chain', pkA, { height: 30, type: 'precommit', block: 'A' })) }),
      /name chain "another-chain"/,
    ],
    ['a height edited after signing', () => ({ chainId: CHAIN_A, pubKey: pkA, record: { ...signedRecord(voteA(30, 'precommit', 'A')), height: 35n } }), /height 35.*height 30/],
    ['a round edited after signing', () => ({ chainId: CHAIN_A, pubKey: pkA, record: { ...signedRecord(voteA(30, 'precommit', 'A', { round: 1 })), round: 4 } }), /round 4.*round 1/],
    ['a precommit recorded as a prevote', () => ({ chainId: CHAIN_A, pubKey: pkA, record: { ...signedRecord(voteA(30, 'precommit', 'A')), step: 2 } }), /type/],
    ['a proposal recorded as a prevote', () => ({ chainId: CHAIN_A, pubKey: pkA, record: { ...signedRecord(proposalRequest(CHAIN_A, pkA, { height: 30, block: 'A' })), step: 2 } }), /not canonical/],
    ['a vote recorded as a proposal', () => ({ chainId: CHAIN_A, pubKey: pkA, record: { ...signedRecord(voteA(30, 'prevote', 'A')), step: 1 } }), /not canonical/],
    ['sign bytes at step 0', () => ({ chainId: CHAIN_A, pubKey: pkA, record: { ...signedRecord(voteA(30, 'prevote', 'A')), step: 0 } }), /step 0/],
    ['a signature by another key', () => ({ chainId: CHAIN_A, pubKey: pkA, record: signedRecord(voteA(30, 'precommit', 'A'), KEY_B) }), /does not verify/],
    ['a signature over other bytes', () => ({ chainId: CHAIN_A, pubKey: pkA, record: { ...signedRecord(voteA(30, 'precommit', 'A')), signature: KEY_A.sign(voteA(30, 'precommit', 'B').signBytes) } }), /does not verify/],
    ['a signature without sign bytes', () => ({ chainId: CHAIN_A, pubKey: pkA, record: { ...watermark(30n, 0, 3), signature: KEY_A.sign(voteA(30, 'precommit', 'A').signBytes) } }), /signature but no sign bytes/],
    ['a signature that is not 64 bytes', () => ({ chainId: CHAIN_A, pubKey: pkA, record: { ...signedRecord(voteA(30, 'precommit', 'A')), signature: new Uint8Array(63).fill(1) } }), /64 bytes/],
  ];

  it.each(cases)('%s: refused on apply by every node alike, and refused by the encoder', (_what, make, reason) => {
    const imp = make();
    const keyed = machine();
    const keyless = machine(new KeyRing());
    for (const m of [keyed, keyless]) {
      const out = applyImport(m, 1, imp);
      expect(out.kind).toBe('refused');
      expect(out.message).toMatch(reason);
      expect(m.recordOf(CHAIN_A, pkA)).toBeNull();
      expect(m.applied).toBe(1);
    }
    expect(keyed.snapshot()).toEqual(keyless.snapshot());
    expect(importProblem(imp)).toMatch(reason);
    expect(() => encodeSignerCommand({ kind: 'import-state', imports: [imp] })).toThrow(SignerCodecError);
  });

  it('a record a FilePV really signed imports with its signature: a repeat gets it back, a timestamp change the stored timestamp, a conflict is refused', () => {
    const m = machine();
    const signed = voteA(40, 'precommit', 'A', { time: 1_700_000_100 });
    const record = signedRecord(signed);
    expect(importProblem({ chainId: CHAIN_A, pubKey: pkA, record })).toBeNull();
    const out = applyImport(m, 1, { chainId: CHAIN_A, pubKey: pkA, record });
    expect(out.kind).toBe('imported');
    expect(Buffer.from(signatureOf(m.evaluate(signed).outcome ?? undefined))).toEqual(Buffer.from(record.signature));
    const later = m.evaluate(voteA(40, 'precommit', 'A', { time: 1_700_000_900 })).outcome;
    expect(later).toMatchObject({ kind: 'signed-with-stored-timestamp', timestamp: { seconds: 1_700_000_100n } });
    expectRefused(m.evaluate(voteA(40, 'precommit', 'nil')).outcome, 'conflicting-data');
    m.apply([signEntry(2, 1, [voteA(41, 'prevote', 'B')])]);
    expectSignedAndValid(m.decisionAt(2)?.signs[0].outcome, voteA(41, 'prevote', 'B'));
  });

  it('a signed proposal imports; the bytes of chain B check against chain B only', () => {
    const m = machine();
    const proposal = proposalRequest(CHAIN_B, KEY_B.publicKey, { height: 7, round: 2, block: 'A' });
    expect(applyImport(m, 1, { chainId: CHAIN_B, pubKey: KEY_B.publicKey, record: signedRecord(proposal, KEY_B) }).kind).toBe('imported');
    expect(applyImport(m, 2, { chainId: CHAIN_A, pubKey: KEY_B.publicKey, record: signedRecord(proposal, KEY_B) }).kind).toBe('refused');
  });
});

describe('HRS-only imports (no sign bytes, no signature)', () => {
  it('raise the watermark; a request at exactly that HRS is refused as FilePV refuses one with no sign bytes; a higher one signs', () => {
    const m = machine();
    expect(applyImport(m, 1, { chainId: CHAIN_A, pubKey: pkA, record: watermark(50n, 1, 3) }).kind).toBe('imported');
    expectRefused(m.evaluate(voteA(50, 'precommit', 'A', { round: 1 })).outcome, 'conflicting-data', /no sign bytes/);
    expectRefused(m.evaluate(voteA(50, 'prevote', 'A', { round: 1 })).outcome, 'step-regression');
    expect(m.evaluate(voteA(50, 'prevote', 'A', { round: 2 })).outcome).toBeNull();
    m.apply([signEntry(2, 1, [voteA(51, 'prevote', 'A')])]);
    expectSignedAndValid(m.decisionAt(2)?.signs[0].outcome, voteA(51, 'prevote', 'A'));
  });
});

describe('nothing is signed at read time', () => {
  // The keyless node's record of a committed sign entry has the sign bytes and no signature. A node
  // that has the key used to sign those bytes when the record was read; now the record is read as
  // it is, and a repeat at that HRS is refused (it costs that one vote, never a signature that no
  // log entry produced).
  it('a record without its signature stays without one on a node that has the key', () => {
    const keyless = machine(new KeyRing());
    const req = voteA(30, 'precommit', 'A');
    keyless.apply([signEntry(1, 1, [req])]);
    const withKey = machine();
    withKey.restore(keyless.snapshot(), 1);
    expect(withKey.recordOf(CHAIN_A, pkA)?.record.signature).toHaveLength(0);
    expect(withKey.allRecords()[0].record.signature).toHaveLength(0);
    expectRefused(withKey.evaluate(req).outcome, 'conflicting-data', /no signature/);
    withKey.apply([signEntry(2, 1, [req])]);
    expectRefused(withKey.decisionAt(2)?.signs[0].outcome, 'conflicting-data');
    expect(withKey.recordOf(CHAIN_A, pkA)?.record.signature).toHaveLength(0);
  });
});
