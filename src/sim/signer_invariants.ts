// The signer's safety properties, checked as a simulation runs, at the moment a signature leaves a
// node (docs/design.md, "The one rule"):
//
//   (a) never two different signatures released for one chain, key and height/round/step: not
//       for conflicting votes or proposals (a double sign), and not even for two that differ only
//       by timestamp (FilePV answers those with the stored signature and timestamp);
//   (b) every released signature verifies against the bytes it claims to sign;
//   (c) every released signature is for sign bytes that a committed log entry carried and that
//       the FilePV rules accepted when that entry was applied (a reference model of the rules,
//       kept here independently of signer/filepv_rules.ts, replays the committed requests);
//   (d) the releasing node had durably applied that entry when it released;
//   (e) every node decides every committed request as the reference model does (sign, answer
//       with the stored signature, refuse): the replicated state machine is deterministic;
//   (f) no signature leaves a node that the membership names with another store than the one it
//       runs on (a lost or replaced disk): that node refuses until it is rejoined as a learner.
//
// (a) and (b) are what a validator is slashed for or chokes on; (c) and (d) are the one rule
// itself, so that a sign path that merely got lucky in a run is still caught.

import crypto from 'node:crypto';
import { decodeCanonicalSignBytes, encodeCanonicalSignBytes, CanonicalSignBytes, signBytesDifferOnlyByTimestamp } from '../cometbft/sign_bytes';
import type { Timestamp } from '../cometbft/messages';
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SIGNATURE_LENGTH, verifyEd25519 } from '../keys/validator_key';
import { NodeId } from '../raft/types';
import { SignRequest } from '../cometbft/sign_types';
import type { ImportStateCommand } from '../signer/signer_codec';

/** The sign bytes a validator node ends up with when told to use the stored timestamp. */
export function withTimestamp(signBytes: Uint8Array, step: 1 | 2 | 3, timestamp: Timestamp): Uint8Array {
  const c = decodeCanonicalSignBytes(signBytes, step === 1 ? 'proposal' : 'vote');
  return encodeCanonicalSignBytes({ ...c, timestamp: { seconds: timestamp.seconds, nanos: timestamp.nanos } });
}

/** One signature as it left a node for a validator node. */
export interface ReleasedSignature {
  chainId: string;
  pubKey: Uint8Array;
  height: bigint;
  round: number;
  step: 1 | 2 | 3;
  /** The sign bytes the validator node asked to have signed. */
  requestBytes: Uint8Array;
  /** The bytes the signature covers: the request's, or the request's with the stored timestamp. */
  signedBytes: Uint8Array;
  signature: Uint8Array;
  /** The answer carried the stored timestamp (FilePV's "only the timestamp differs"). */
  storedTimestamp: boolean;
  node: NodeId;
  /** The last log index whose effects the releasing node's disk holds, at the moment of release. */
  durableApplied: number;
  /** The releasing node's membership names it with another store than the one it runs on. */
  foreignStore?: boolean;
}

export interface SignerCheckOptions {
  /** Check (c), committed and accepted (default true). */
  committed?: boolean;
  /** Check (d), durably applied by the releasing node (default true). */
  durable?: boolean;
  /** Check (e), every node decides as the FilePV rules do (default true). */
  agreement?: boolean;
  /**
   * Check (a) for two answers that differ only by the timestamp, where FilePV answers the stored
   * one (default true). Off, only conflicting content counts as a double sign (tests only).
   */
  timestampOnly?: boolean;
}

interface Watermark {
  height: bigint;
  round: number;
  step: number;
}

/** What the FilePV rules make of a request: a new or the same signature, the stored one with its timestamp, or a refusal. */
export type DecisionKind = 'signed' | 'signed-with-stored-timestamp' | 'refused';
/** What applying an imported state did (ImportOutcome kinds). */
export type ImportKind = 'imported' | 'ignored' | 'refused';

interface FirstRelease {
  signedBytes: Uint8Array;
  signature: Uint8Array;
  node: NodeId;
  at: number;
}

export class SignerInvariantChecker {
  readonly violations: string[] = [];
  /** Signatures released, and how many of them carried a stored timestamp. */
  released = 0;
  releasedWithStoredTimestamp = 0;
  /** Reference FilePV watermark per (chain, key), over the committed log. */
  private readonly watermarks = new Map<string, Watermark & { signBytes: Uint8Array }>();
  private readonly expectedImports = new Map<number, ImportKind[]>();
  /** The reference decision of every committed sign request, by index then position. */
  private readonly expected = new Map<number, DecisionKind[]>();
  /** Sign bytes the reference rules accepted, per (chain, key): the log index that accepted them. */
  private readonly accepted = new Map<string, number>();
  /** Highest log index fed to the reference model; indexes arrive in order, each once. */
  private committedThrough = 0;
  private readonly firstRelease = new Map<string, FirstRelease>();
  /** Answers already found well-formed and verifying (the same signature is released many times). */
  private readonly checkedAnswers = new Set<string>();
  private readonly publicKeys = new Map<string, crypto.KeyObject | null>();
  private readonly checkCommitted: boolean;
  private readonly checkDurable: boolean;
  private readonly checkAgreement: boolean;
  private readonly checkTimestampOnly: boolean;

  constructor(
    private readonly clock: () => number,
    options: SignerCheckOptions = {},
  ) {
    this.checkCommitted = options.committed ?? true;
    this.checkDurable = options.durable ?? true;
    this.checkAgreement = options.agreement ?? true;
    this.checkTimestampOnly = options.timestampOnly ?? true;
  }

  private fail(message: string): void {
    this.violations.push(`t=${this.clock()}ms: ${message}`);
  }

  /** The highest committed index fed in so far. */
  get committedIndex(): number {
    return this.committedThrough;
  }

  /**
   * The entry at `index` is committed (some node applied it); `requests` are its sign requests
   * (empty for other entries). Every node applies every index, so the first to do so calls this
   * in log order; later calls for the same index are ignored.
   */
  onCommitted(index: number, requests: readonly SignRequest[], imports: readonly ImportStateCommand[] = []): void {
    if (index <= this.committedThrough) return;
    if (index !== this.committedThrough + 1) {
      // A node can only apply index i (or restore a snapshot past it) after someone applied i - 1.
      this.fail(`checker: committed index ${index} seen before index ${this.committedThrough + 1}`);
    }
    this.committedThrough = index;
    if (requests.length > 0) this.expected.set(index, requests.map((r) => this.replay(index, r)));
    if (imports.length > 0) this.expectedImports.set(index, imports.map((imp) => this.replayImport(index, imp)));
  }

  /**
   * The reference rule for an imported state (an operator's `state import`, or anything a holder
   * of the admin certificate sends): refused unless its sign bytes are canonical for its chain and
   * HRS and its signature verifies; otherwise it only ever raises the watermark, and its signature
   * counts as carried by a committed entry (a repeat of the same request gets it back).
   */
  private replayImport(index: number, imp: ImportStateCommand): ImportKind {
    const rec = imp.record;
    if (rec.signBytes.length === 0) {
      // Height, round and step only (as priv_validator_state.json may hold): no signature either.
      if (rec.signature.length > 0) return 'refused';
    } else {
      if (rec.step === 0) return 'refused';
      let parsed: CanonicalSignBytes;
      try {
        parsed = decodeCanonicalSignBytes(rec.signBytes, rec.step === 1 ? 'proposal' : 'vote');
      } catch {
        return 'refused';
      }
      if (parsed.height !== rec.height || parsed.round !== rec.round || parsed.chainId !== imp.chainId) return 'refused';
      if (rec.step !== 1 && parsed.type !== (rec.step === 2 ? 1 : 2)) return 'refused';
      if (!this.verify(imp.pubKey, rec.signBytes, rec.signature)) return 'refused';
    }
    const key = recordKey(imp.chainId, imp.pubKey);
    const w = this.watermarks.get(key);
    if (w && compareHrs({ height: rec.height, round: rec.round, step: rec.step }, w) <= 0) return 'ignored';
    this.watermarks.set(key, { height: rec.height, round: rec.round, step: rec.step, signBytes: rec.signBytes });
    if (rec.signBytes.length > 0) {
      const bytesKey = `${key}/${hex(rec.signBytes)}`;
      if (!this.accepted.has(bytesKey)) this.accepted.set(bytesKey, index);
    }
    return 'imported';
  }

  /**
   * The reference rules (CometBFT privval/file.go, written out again independently of
   * signer/filepv_rules.ts): above the watermark, sign and raise it; at it, the same bytes or
   * bytes differing only by timestamp get the stored signature; anything else is refused.
   */
  private replay(index: number, r: SignRequest): DecisionKind {
    let parsed: CanonicalSignBytes;
    try {
      parsed = decodeCanonicalSignBytes(r.signBytes, r.step === 1 ? 'proposal' : 'vote');
    } catch {
      return 'refused';
    }
    if (parsed.height !== r.height || parsed.round !== r.round || parsed.chainId !== r.chainId) return 'refused';
    if (r.step !== 1 && parsed.type !== (r.step === 2 ? 1 : 2)) return 'refused';
    const key = recordKey(r.chainId, r.pubKey);
    const w = this.watermarks.get(key);
    if (w) {
      const order = compareHrs(r, w);
      if (order < 0) return 'refused';
      if (order === 0) {
        // A watermark imported without sign bytes says only that something was signed here.
        if (w.signBytes.length === 0) return 'refused';
        if (Buffer.from(w.signBytes).equals(Buffer.from(r.signBytes))) return 'signed';
        return differOnlyByTimestamp(w.signBytes, r.signBytes, r.step) ? 'signed-with-stored-timestamp' : 'refused';
      }
    }
    this.watermarks.set(key, { height: r.height, round: r.round, step: r.step, signBytes: r.signBytes });
    const bytesKey = `${key}/${hex(r.signBytes)}`;
    if (!this.accepted.has(bytesKey)) this.accepted.set(bytesKey, index);
    return 'signed';
  }

  /** (e) Node `node` applied the entry at `index` and decided its requests so. */
  onDecided(node: NodeId, index: number, decided: readonly DecisionKind[], imports: readonly ImportKind[] = []): void {
    if (!this.checkAgreement) return;
    const expectedImports = this.expectedImports.get(index) ?? [];
    for (let i = 0; i < Math.max(expectedImports.length, imports.length); i++) {
      if (expectedImports[i] !== imports[i]) {
        this.fail(`signer agreement: ${node} applied import ${i} of index ${index} as ${imports[i] ?? 'nothing'} where the rules say ${expectedImports[i] ?? 'nothing'}`);
        return;
      }
    }
    const expected = this.expected.get(index) ?? [];
    for (let i = 0; i < Math.max(expected.length, decided.length); i++) {
      if (expected[i] !== decided[i]) {
        this.fail(
          `signer agreement: ${node} decided request ${i} of index ${index} as ${decided[i] ?? 'nothing'} where the FilePV rules say ${expected[i] ?? 'nothing'}`,
        );
        return;
      }
    }
  }

  onReleased(r: ReleasedSignature): void {
    this.released++;
    if (r.storedTimestamp) this.releasedWithStoredTimestamp++;
    const record = recordKey(r.chainId, r.pubKey);
    const hrs = `${r.height}/${r.round}/${r.step}`;
    const signedHex = hex(r.signedBytes);
    const where = `chain ${r.chainId} key ${hex(r.pubKey).slice(0, 8)} ${hrs}`;

    const answerKey = `${record}/${hrs}/${hex(r.signature)}/${signedHex}`;
    if (!this.checkedAnswers.has(answerKey)) {
      let ok = true;
      // The answer must be about the request's HRS...
      try {
        const signed = decodeCanonicalSignBytes(r.signedBytes, r.step === 1 ? 'proposal' : 'vote');
        if (signed.height !== r.height || signed.round !== r.round || signed.chainId !== r.chainId) {
          ok = false;
          this.fail(`signer safety (bad answer): ${r.node} released a signature for ${where} over ${describe(r.signedBytes, r.step)}`);
        }
      } catch (e) {
        ok = false;
        this.fail(`signer safety (bad answer): ${r.node} released a signature for ${where} over bytes that do not parse: ${(e as Error).message}`);
      }
      // ...and (b) it verifies.
      if (!this.verify(r.pubKey, r.signedBytes, r.signature)) {
        ok = false;
        this.fail(`signer safety (bad signature): ${r.node} released a signature for ${where} that does not verify`);
      }
      if (ok) this.checkedAnswers.add(answerKey);
    }
    // Same content as the request, up to the timestamp when the stored one is returned.
    if (!r.storedTimestamp) {
      if (!Buffer.from(r.requestBytes).equals(Buffer.from(r.signedBytes))) {
        this.fail(`signer safety (bad answer): ${r.node} answered ${where} with a signature of other bytes than requested`);
      }
    } else if (!differOnlyByTimestamp(r.requestBytes, r.signedBytes, r.step)) {
      this.fail(
        `signer safety (bad answer): ${r.node} answered ${describe(r.requestBytes, r.step)} with a "stored timestamp" signature of ${describe(r.signedBytes, r.step)}`,
      );
    }

    // (a) one signature per chain, key and HRS.
    const hrsKey = `${record}/${hrs}`;
    const first = this.firstRelease.get(hrsKey);
    if (!first) {
      this.firstRelease.set(hrsKey, { signedBytes: r.signedBytes, signature: r.signature, node: r.node, at: this.clock() });
    } else if (!Buffer.from(first.signedBytes).equals(Buffer.from(r.signedBytes))) {
      const onlyTimestamp = differOnlyByTimestamp(first.signedBytes, r.signedBytes, r.step);
      if (!onlyTimestamp || this.checkTimestampOnly) {
        this.fail(
          `signer safety (${onlyTimestamp ? 'two signatures for one vote: FilePV answers the stored one' : 'double sign'}): at ${where} ` +
            `${first.node} released ${describe(first.signedBytes, r.step)} at t=${first.at}ms and ${r.node} released ${describe(r.signedBytes, r.step)}`,
        );
      }
    } else if (!Buffer.from(first.signature).equals(Buffer.from(r.signature))) {
      this.fail(`signer safety (two signatures for one vote): ${first.node} and ${r.node} released different signatures of the same bytes at ${where}`);
    }

    // (f) not from a store the membership does not name.
    if (r.foreignStore) {
      this.fail(`signer safety (released from a store the membership does not name): ${r.node} released ${describe(r.signedBytes, r.step)} for ${where}`);
    }

    // (c) committed and accepted by the rules; (d) durably applied by the releasing node.
    const index = this.accepted.get(`${record}/${signedHex}`);
    if (index === undefined) {
      if (this.checkCommitted) {
        this.fail(
          `signer safety (released outside the log): ${r.node} released ${describe(r.signedBytes, r.step)} for ${where}, ` +
            `which no committed entry up to index ${this.committedThrough} decided to sign`,
        );
      }
    } else if (this.checkDurable && r.durableApplied < index) {
      this.fail(
        `signer safety (released before applied): ${r.node} released ${where} decided at index ${index} ` +
          `while its disk held the state machine only up to index ${r.durableApplied}`,
      );
    }
  }

  /**
   * verifyEd25519's check, with the public key object built once per key (building it is most of
   * verifyEd25519's cost, and a run releases thousands of signatures). The first signature of each
   * key also goes through verifyEd25519 itself, so the two cannot drift apart unnoticed.
   */
  private verify(pubKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    const k = hex(pubKey);
    let key = this.publicKeys.get(k);
    if (key === undefined) {
      const ok = verifyEd25519(pubKey, message, signature);
      key = null;
      if (pubKey.length === ED25519_PUBLIC_KEY_LENGTH) {
        try {
          key = crypto.createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, pubKey]), format: 'der', type: 'spki' });
        } catch {
          key = null;
        }
      }
      this.publicKeys.set(k, key);
      return ok;
    }
    if (key === null || signature.length !== ED25519_SIGNATURE_LENGTH) return false;
    try {
      return crypto.verify(null, message, key, signature);
    } catch {
      return false;
    }
  }
}

/** DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410). */
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function recordKey(chainId: string, pubKey: Uint8Array): string {
  return `${chainId}/${hex(pubKey)}`;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function compareHrs(a: Watermark, b: Watermark): number {
  if (a.height !== b.height) return a.height > b.height ? 1 : -1;
  if (a.round !== b.round) return a.round - b.round;
  return a.step - b.step;
}

function differOnlyByTimestamp(a: Uint8Array, b: Uint8Array, step: number): boolean {
  try {
    return signBytesDifferOnlyByTimestamp(a, b, step === 1 ? 'proposal' : 'vote');
  } catch {
    return false;
  }
}

/** A short human description of sign bytes: the block voted for and the timestamp. */
export function describe(bytes: Uint8Array, step: number): string {
  try {
    const c = decodeCanonicalSignBytes(bytes, step === 1 ? 'proposal' : 'vote');
    const block = c.blockId === null ? 'nil' : `block ${hex(c.blockId.hash).slice(0, 8)}`;
    return `${c.kind === 'proposal' ? 'proposal' : c.type === 1 ? 'prevote' : 'precommit'} for ${block} at ${c.timestamp.seconds}.${String(c.timestamp.nanos).padStart(9, '0')}`;
  } catch {
    return `unparsable bytes ${hex(bytes).slice(0, 16)}`;
  }
}
