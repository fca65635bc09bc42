// The bytes of the signer's replicated state: the commands carried by log entries, the
// slashing records kept in the store, and the snapshot image. Protobuf wire format written with
// our own encoder (no JSON on the hot path, and int64 heights stay exact).
//
// Decoding is strict: an unknown field or command is an error, never skipped. A node that meets a
// command it does not understand (written by a newer version) must stop rather than apply the log
// differently from its peers; see SignerStateMachine.apply.

import { ProtoReader, ProtoWriter, WireType } from '../cometbft/protobuf';
import { SignedMsgType } from '../cometbft/messages';
import { CanonicalSignBytes, decodeCanonicalSignBytes, Step, stepName } from '../cometbft/sign_bytes';
import { ED25519_SIGNATURE_LENGTH, verifyEd25519 } from '../keys/validator_key';
import { SignRequest } from '../cometbft/sign_types';
import { SlashingRecord } from '../cometbft/filepv_rules';
import { RaftSignerError } from '../util/errors';

/** The current format of commands, records and snapshots; written into each, checked on read. */
export const SIGNER_FORMAT_VERSION = 1;

export class SignerCodecError extends RaftSignerError<{ code: 'SIGNER_CODEC' }> {
  constructor(message: string) {
    super({ code: 'SIGNER_CODEC' }, message);
    this.name = 'SignerCodecError';
  }
}

/**
 * A signer's last state brought into the log: it may only raise the watermark. Either a record a
 * signer really signed (canonical sign bytes of this chain and HRS, and their signature by this
 * key), or an HRS-only record (no sign bytes, no signature) after which a request at exactly that
 * HRS is refused, as FilePV refuses one when it has no sign bytes. See importProblem.
 */
export interface ImportStateCommand {
  chainId: string;
  pubKey: Uint8Array;
  record: SlashingRecord;
}

export type SignerCommand = { kind: 'sign'; requests: SignRequest[] } | { kind: 'import-state'; imports: ImportStateCommand[] };

/** A record as kept: the FilePV state plus the log index that last wrote it. */
export interface StoredRecord {
  chainId: string;
  pubKey: Uint8Array;
  record: SlashingRecord;
  /** The log index of the entry that wrote this record (0: restored from an image that predates it). */
  index: number;
}

// Field numbers. Command: 1 version, 2 sign request (repeated), 3 import (repeated).
// SignRequest: 1 chain id, 2 pub key, 3 height, 4 round, 5 step, 6 sign bytes.
// Record: 1 chain id, 2 pub key, 3 height, 4 round, 5 step, 6 sign bytes, 7 signature, 8 index.
// Snapshot: 1 version, 2 record (repeated).

function writeSignRequest(r: SignRequest): Uint8Array {
  return new ProtoWriter()
    .string(1, r.chainId)
    .bytes(2, r.pubKey)
    .sfixed64(3, r.height)
    .int32(4, r.round)
    .uint32(5, r.step)
    .bytes(6, r.signBytes)
    .finish();
}

function writeRecord(r: StoredRecord): Uint8Array {
  return new ProtoWriter()
    .string(1, r.chainId)
    .bytes(2, r.pubKey)
    .sfixed64(3, r.record.height)
    .int32(4, r.record.round)
    .uint32(5, r.record.step)
    .bytes(6, r.record.signBytes)
    .bytes(7, r.record.signature)
    .uint64(8, BigInt(r.index))
    .finish();
}

export function encodeSignerCommand(command: SignerCommand): Uint8Array {
  const w = new ProtoWriter().uint32(1, SIGNER_FORMAT_VERSION);
  if (command.kind === 'sign') {
    if (command.requests.length === 0) throw new SignerCodecError('a sign command needs at least one request');
    for (const r of command.requests) {
      const problem = signRequestProblem(r);
      if (problem) throw new SignerCodecError(`cannot log this sign request: ${problem}`);
      w.message(2, writeSignRequest(r));
    }
  } else {
    if (command.imports.length === 0) throw new SignerCodecError('an import command needs at least one record');
    for (const i of command.imports) {
      const problem = importProblem(i);
      if (problem) throw new SignerCodecError(`cannot log this import: ${problem}`);
    }
    for (const i of command.imports) w.message(3, writeRecord({ chainId: i.chainId, pubKey: i.pubKey, record: i.record, index: 0 }));
  }
  return w.finish();
}

function checkStep(step: number, allowZero: boolean, context: string): 0 | 1 | 2 | 3 {
  if (step === 1 || step === 2 || step === 3 || (allowZero && step === 0)) return step;
  throw new SignerCodecError(`${context}: step ${step} is not a FilePV step`);
}

function readFields(bytes: Uint8Array, context: string, onField: (field: number, r: ProtoReader, wire: WireType) => void): void {
  const r = new ProtoReader(bytes, context);
  while (!r.atEnd) {
    const tag = r.tag();
    onField(tag.fieldNumber, r, tag.wireType);
  }
}

function expectWire(actual: WireType, expected: WireType, context: string, field: number): void {
  if (actual !== expected) throw new SignerCodecError(`${context}: field ${field} has wire type ${actual}, expected ${expected}`);
}

interface RecordFields {
  chainId: string;
  pubKey: Uint8Array;
  height: bigint;
  round: number;
  step: number;
  signBytes: Uint8Array;
  signature: Uint8Array;
  index: bigint;
}

function readRecordFields(bytes: Uint8Array, context: string, allowed: number): RecordFields {
  const f: RecordFields = {
    chainId: '',
    pubKey: new Uint8Array(0),
    height: 0n,
    round: 0,
    step: 0,
    signBytes: new Uint8Array(0),
    signature: new Uint8Array(0),
    index: 0n,
  };
  readFields(bytes, context, (field, r, wire) => {
    if (field > allowed) throw new SignerCodecError(`${context}: unknown field ${field}`);
    const lengthDelimited = field === 1 || field === 2 || field === 6 || field === 7;
    expectWire(wire, lengthDelimited ? WireType.LengthDelimited : field === 3 ? WireType.Fixed64 : WireType.Varint, context, field);
    switch (field) {
      case 1:
        f.chainId = r.string();
        break;
      case 2:
        f.pubKey = r.bytes();
        break;
      case 3:
        f.height = r.sfixed64();
        break;
      case 4:
        f.round = strictInt32(r.int64(), context, 'round');
        break;
      case 5:
        f.step = strictInt32(r.int64(), context, 'step');
        break;
      case 6:
        f.signBytes = r.bytes();
        break;
      case 7:
        f.signature = r.bytes();
        break;
      case 8:
        f.index = r.uint64();
        break;
    }
  });
  if (f.chainId === '') throw new SignerCodecError(`${context}: no chain id`);
  if (f.pubKey.length !== 32) throw new SignerCodecError(`${context}: public key must be 32 bytes, got ${f.pubKey.length}`);
  if (f.height < 0n) throw new SignerCodecError(`${context}: negative height`);
  if (f.round < 0) throw new SignerCodecError(`${context}: negative round`);
  return f;
}

/** A 32-bit field read as the 64-bit varint it is on the wire: an out-of-range value is refused, never truncated. */
function strictInt32(value: bigint, context: string, field: string): number {
  if (value < -(2n ** 31n) || value >= 2n ** 31n) throw new SignerCodecError(`${context}: ${field} ${value} is out of range`);
  return Number(value);
}

/**
 * Why a sign request cannot go into the log, or null. The decoder refuses exactly these, so a
 * request that passes here can never make a node stop when it applies the entry.
 */
export function signRequestProblem(r: SignRequest): string | null {
  if (r.chainId === '') return 'no chain id';
  if (Buffer.byteLength(r.chainId, 'utf8') > 1024) return 'chain id too long';
  if (r.pubKey.length !== 32) return `public key must be 32 bytes, got ${r.pubKey.length}`;
  if (typeof r.height !== 'bigint' || r.height < 0n || r.height >= 2n ** 63n) return `height ${String(r.height)} is outside 0..int64`;
  if (!Number.isInteger(r.round) || r.round < 0 || r.round >= 2 ** 31) return `round ${r.round} is outside 0..int32`;
  if (r.step !== 1 && r.step !== 2 && r.step !== 3) return `step ${String(r.step)} is not a FilePV step`;
  return null;
}

/**
 * Why an imported state cannot go into the log or take effect, or null. The leader refuses these
 * before proposing, and the state machine refuses them again when it applies an entry (an entry
 * written by an older leader, or crafted), so the check must be deterministic: it depends on
 * nothing but the command (the key checked is the command's own, not a configured one, so a node
 * without the key decides the same).
 *
 * The decoder refuses only the first part (the shape: chain id, key, height, round, step), which
 * it must, since a node stops on an entry it cannot decode; an entry of the right shape that
 * fails the rest is applied as a refusal that changes nothing.
 *
 * The rest: a record with sign bytes is taken only as a signer wrote it. Its sign bytes must be
 * the canonical CometBFT encoding of a vote or proposal (privval/sign_bytes.ts, the strict
 * decoder) naming the record's chain, height and round, of the kind its step says (proposal 1,
 * prevote 2, precommit 3), and its signature must verify over them with the record's key. Such a
 * record answers a repeat with its own signature; nothing ever signs its bytes (a record with
 * bytes and no signature was a signing oracle: any bytes, a nil prevote at an HRS already signed
 * for a block, were signed on every read). Without sign bytes it must have no signature either.
 */
export function importProblem(i: ImportStateCommand): string | null {
  const asRequest = signRequestProblem({ chainId: i.chainId, pubKey: i.pubKey, height: i.record.height, round: i.record.round, step: 1, signBytes: i.record.signBytes });
  if (asRequest) return asRequest;
  const r = i.record;
  const step: number = r.step;
  if (step !== 0 && step !== 1 && step !== 2 && step !== 3) return `step ${step} is not 0..3`;
  if (r.signBytes.length === 0) {
    if (r.signature.length > 0) return 'the record has a signature but no sign bytes: a signature is only kept with the bytes it signs';
    return null;
  }
  const where = `${r.height}/${r.round}/${r.step}`;
  if (step === 0) return `the record ${where} has sign bytes at step 0 (nothing signed yet)`;
  if (r.signature.length === 0) {
    return (
      `the record ${where} has sign bytes but no signature: raft-signer never signs imported bytes; ` +
      'import the signature they were signed with, or height, round and step only'
    );
  }
  if (r.signature.length !== ED25519_SIGNATURE_LENGTH) {
    return `the signature of the record ${where} is ${r.signature.length} bytes; an Ed25519 signature is ${ED25519_SIGNATURE_LENGTH} bytes`;
  }
  const bytesProblem = importedSignBytesProblem(i.chainId, r);
  if (bytesProblem) return bytesProblem;
  if (!verifyEd25519(i.pubKey, r.signBytes, r.signature)) {
    return `the signature of the record ${where} does not verify with the chain's key over its sign bytes`;
  }
  return null;
}

/**
 * Why a record's sign bytes are not what a signer signed at its HRS for `chainId`, or null: they
 * must be the canonical encoding of a vote or proposal (the kind its step 1..3 says) naming that
 * chain, the record's height and round, and for a vote the type its step says. The signature is
 * not looked at (importProblem checks it).
 */
export function importedSignBytesProblem(chainId: string, r: Pick<SlashingRecord, 'height' | 'round' | 'step' | 'signBytes'>): string | null {
  const where = `${r.height}/${r.round}/${r.step}`;
  const step: number = r.step;
  if (step !== 1 && step !== 2 && step !== 3) return `the record ${where} has sign bytes at step ${step}, which signs nothing`;
  const kind = step === Step.Propose ? 'proposal' : 'vote';
  let parsed: CanonicalSignBytes;
  try {
    parsed = decodeCanonicalSignBytes(r.signBytes, kind);
  } catch (e) {
    return `the sign bytes of the record ${where} are not canonical ${kind} sign bytes (${(e as Error).message})`;
  }
  if (parsed.chainId !== chainId) {
    return `the sign bytes of the record ${where} name chain ${JSON.stringify(parsed.chainId)}, not ${JSON.stringify(chainId)}`;
  }
  if (parsed.height !== r.height || parsed.round !== r.round) {
    return `the record says height ${r.height} round ${r.round} but its sign bytes say height ${parsed.height} round ${parsed.round}`;
  }
  const voteType = step === Step.Prevote ? SignedMsgType.Prevote : step === Step.Precommit ? SignedMsgType.Precommit : null;
  if (voteType !== null && parsed.type !== voteType) {
    return `the record says step ${step} (${stepName(step as Step)}) but its sign bytes are a vote of type ${parsed.type}`;
  }
  return null;
}

function readSignRequest(bytes: Uint8Array): SignRequest {
  const f = readRecordFields(bytes, 'sign request', 6);
  return {
    chainId: f.chainId,
    pubKey: f.pubKey,
    height: f.height,
    round: f.round,
    step: checkStep(f.step, false, 'sign request') as 1 | 2 | 3,
    signBytes: f.signBytes,
  };
}

function readRecord(bytes: Uint8Array, context: string): StoredRecord {
  const f = readRecordFields(bytes, context, 8);
  if (f.index > BigInt(Number.MAX_SAFE_INTEGER)) throw new SignerCodecError(`${context}: index out of range`);
  return {
    chainId: f.chainId,
    pubKey: f.pubKey,
    record: { height: f.height, round: f.round, step: checkStep(f.step, true, context), signBytes: f.signBytes, signature: f.signature },
    index: Number(f.index),
  };
}

function readVersion(r: ProtoReader, wire: WireType, context: string): void {
  expectWire(wire, WireType.Varint, context, 1);
  const version = r.uint64();
  if (version !== BigInt(SIGNER_FORMAT_VERSION)) {
    throw new SignerCodecError(
      `${context} has format version ${version}; this raft-signer understands only ${SIGNER_FORMAT_VERSION}: upgrade this node`,
    );
  }
}

export function decodeSignerCommand(bytes: Uint8Array): SignerCommand {
  let version = false;
  const requests: SignRequest[] = [];
  const imports: ImportStateCommand[] = [];
  readFields(bytes, 'signer command', (field, r, wire) => {
    if (field === 1) {
      readVersion(r, wire, 'signer command');
      version = true;
    } else if (field === 2) {
      expectWire(wire, WireType.LengthDelimited, 'signer command', 2);
      requests.push(readSignRequest(r.lengthDelimited()));
    } else if (field === 3) {
      expectWire(wire, WireType.LengthDelimited, 'signer command', 3);
      const rec = readRecord(r.lengthDelimited(), 'imported state');
      imports.push({ chainId: rec.chainId, pubKey: rec.pubKey, record: rec.record });
    } else {
      throw new SignerCodecError(`signer command: unknown field ${field} (written by a newer raft-signer? upgrade this node)`);
    }
  });
  if (!version) throw new SignerCodecError('signer command without a format version');
  if (requests.length > 0 && imports.length > 0) throw new SignerCodecError('signer command mixes sign requests and imports');
  if (requests.length > 0) return { kind: 'sign', requests };
  if (imports.length > 0) return { kind: 'import-state', imports };
  throw new SignerCodecError('empty signer command');
}

export function encodeStoredRecord(record: StoredRecord): Uint8Array {
  return writeRecord(record);
}

export function decodeStoredRecord(bytes: Uint8Array): StoredRecord {
  return readRecord(bytes, 'stored slashing record');
}

export function encodeSignerSnapshot(records: Iterable<StoredRecord>): Uint8Array {
  const w = new ProtoWriter().uint32(1, SIGNER_FORMAT_VERSION);
  for (const r of records) w.message(2, writeRecord(r));
  return w.finish();
}

export function decodeSignerSnapshot(bytes: Uint8Array): StoredRecord[] {
  // The image of a cluster that has never held a record (or of a pre-signer store) is empty.
  if (bytes.length === 0) return [];
  let version = false;
  const records: StoredRecord[] = [];
  readFields(bytes, 'signer snapshot', (field, r, wire) => {
    if (field === 1) {
      readVersion(r, wire, 'signer snapshot');
      version = true;
    } else if (field === 2) {
      expectWire(wire, WireType.LengthDelimited, 'signer snapshot', 2);
      records.push(readRecord(r.lengthDelimited(), 'snapshot record'));
    } else {
      throw new SignerCodecError(`signer snapshot: unknown field ${field} (written by a newer raft-signer? upgrade this node)`);
    }
  });
  if (!version) throw new SignerCodecError('signer snapshot without a format version');
  return records;
}
