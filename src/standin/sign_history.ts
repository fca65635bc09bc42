// What validator nodes received from their signers, recorded the way the node would use it, and
// the two checks the whole system is judged by:
// - verify(): every signature verifies against sign bytes recomputed from the vote or proposal
//   the node would broadcast (its own fields, plus the timestamp and signatures the signer
//   returned; CometBFT's SignAndCheckVote takes nothing else from the response);
// - findConflicts(): across every node's history, no two signatures for one chain, key, height,
//   round and step whose sign bytes differ other than by timestamp. A timestamp-only difference
//   is what FilePV itself returns for a repeated vote and is not evidence; anything else at one
//   HRS (another block id, another pol round, ...) is a double sign.
// The stand-in validator records into it; the chaos harness reads many of them.

import { Proposal, Timestamp, Vote } from '../cometbft/messages';
import {
  CanonicalSignBytes,
  Step,
  canonicalDifferences,
  decodeCanonicalSignBytes,
  isNilBlockId,
  proposalSignBytes,
  stepOfVoteType,
  voteExtensionSignBytes,
  voteSignBytes,
} from '../cometbft/sign_bytes';
import { verifyEd25519 } from '../keys/validator_key';

export type SignedMessage = { kind: 'vote'; vote: Vote } | { kind: 'proposal'; proposal: Proposal };

/** One signature a validator node received. */
export interface SignRecord {
  /** Which node (stand-in) received it. */
  source: string;
  chainId: string;
  /** The validator key the signature is claimed to be by (from the node's PubKeyRequest). */
  pubKey: Uint8Array;
  kind: SignedMessage['kind'];
  height: bigint;
  round: number;
  /** FilePV step: proposal 1, prevote 2, precommit 3. */
  step: Step;
  /** Sign bytes computed by the recorder from `message`, not taken from the signer. */
  signBytes: Uint8Array;
  signature: Uint8Array;
  timestamp: Timestamp;
  /** The vote or proposal as the node would broadcast it. */
  message: SignedMessage;
  /** Milliseconds since the epoch when it was recorded (for reports only). */
  recordedAt: number;
}

export interface SignVerificationFailure {
  record: SignRecord;
  problem: string;
}

export interface SignVerification {
  ok: boolean;
  /** Records checked. */
  checked: number;
  failures: SignVerificationFailure[];
}

/** Two signatures for one chain/key/HRS over sign bytes that differ by more than the timestamp. */
export interface SignConflict {
  chainId: string;
  /** Hex of the validator key. */
  pubKey: string;
  height: bigint;
  round: number;
  step: Step;
  first: SignRecord;
  second: SignRecord;
  /** Canonical fields that differ, e.g. ['block id']; never only 'timestamp'. */
  differences: string[];
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function copyVote(vote: Vote): Vote {
  return {
    ...vote,
    blockId: { hash: vote.blockId.hash.slice(), partSetHeader: { ...vote.blockId.partSetHeader, hash: vote.blockId.partSetHeader.hash.slice() } },
    timestamp: { ...vote.timestamp },
    validatorAddress: vote.validatorAddress.slice(),
    signature: vote.signature.slice(),
    extension: vote.extension.slice(),
    extensionSignature: vote.extensionSignature.slice(),
  };
}

function copyProposal(proposal: Proposal): Proposal {
  return {
    ...proposal,
    blockId: {
      hash: proposal.blockId.hash.slice(),
      partSetHeader: { ...proposal.blockId.partSetHeader, hash: proposal.blockId.partSetHeader.hash.slice() },
    },
    timestamp: { ...proposal.timestamp },
    signature: proposal.signature.slice(),
  };
}

/** The signatures one validator node received, in arrival order. */
export class SignHistory {
  private readonly list: SignRecord[] = [];

  constructor(readonly source = 'validator') {}

  get records(): readonly SignRecord[] {
    return this.list;
  }

  get size(): number {
    return this.list.length;
  }

  /**
   * Records a signed vote as the node would broadcast it (its signature, timestamp and extension
   * signature set). Throws SignBytesError if the vote has no canonical sign bytes.
   */
  recordVote(chainId: string, pubKey: Uint8Array, vote: Vote): SignRecord {
    const copy = copyVote(vote);
    const step = stepOfVoteType(copy.type);
    return this.add({
      source: this.source,
      chainId,
      pubKey: pubKey.slice(),
      kind: 'vote',
      height: copy.height,
      round: copy.round,
      step,
      signBytes: voteSignBytes(chainId, copy),
      signature: copy.signature,
      timestamp: { ...copy.timestamp },
      message: { kind: 'vote', vote: copy },
      recordedAt: Date.now(),
    });
  }

  /** Records a signed proposal. Throws SignBytesError if it has no canonical sign bytes. */
  recordProposal(chainId: string, pubKey: Uint8Array, proposal: Proposal): SignRecord {
    const copy = copyProposal(proposal);
    return this.add({
      source: this.source,
      chainId,
      pubKey: pubKey.slice(),
      kind: 'proposal',
      height: copy.height,
      round: copy.round,
      step: Step.Propose,
      signBytes: proposalSignBytes(chainId, copy),
      signature: copy.signature,
      timestamp: { ...copy.timestamp },
      message: { kind: 'proposal', proposal: copy },
      recordedAt: Date.now(),
    });
  }

  /** Adds a record as it is (for tools that build records themselves, and planted tests). */
  add(record: SignRecord): SignRecord {
    this.list.push(record);
    return record;
  }

  /**
   * Checks every record: its sign bytes are those of its message, its signature verifies under
   * its key, and its vote extension signature (if any) belongs on that vote and verifies too.
   */
  verify(): SignVerification {
    const failures: SignVerificationFailure[] = [];
    for (const record of this.list) {
      const problem = recordProblem(record);
      if (problem !== null) failures.push({ record, problem });
    }
    return { ok: failures.length === 0, checked: this.list.length, failures };
  }
}

function describe(record: SignRecord): string {
  return `${record.source}: ${record.kind} of chain ${JSON.stringify(record.chainId)} at ${record.height}/${record.round}/${record.step}`;
}

function recordProblem(record: SignRecord): string | null {
  let expected: Uint8Array;
  try {
    expected =
      record.message.kind === 'vote' ? voteSignBytes(record.chainId, record.message.vote) : proposalSignBytes(record.chainId, record.message.proposal);
  } catch (err) {
    return `${describe(record)}: its ${record.message.kind} has no canonical sign bytes: ${(err as Error).message}`;
  }
  if (!bytesEqual(expected, record.signBytes)) return `${describe(record)}: the recorded sign bytes are not those of its ${record.message.kind}`;
  if (record.pubKey.length === 0) return `${describe(record)}: no public key is known for the chain`;
  if (!verifyEd25519(record.pubKey, record.signBytes, record.signature)) {
    return `${describe(record)}: the signature does not verify under key ${hex(record.pubKey)}`;
  }
  if (record.message.kind === 'vote' && record.message.vote.extensionSignature.length > 0) {
    const vote = record.message.vote;
    if (record.step !== Step.Precommit || isNilBlockId(vote.blockId)) {
      return `${describe(record)}: an extension signature on a prevote or nil precommit (the node panics on one)`;
    }
    if (!verifyEd25519(record.pubKey, voteExtensionSignBytes(record.chainId, vote), vote.extensionSignature)) {
      return `${describe(record)}: the vote extension signature does not verify`;
    }
  }
  return null;
}

/**
 * Every pair of signatures, across all histories, for one chain, key and height/round/step over
 * sign bytes that differ by more than the timestamp. Empty when nothing was double-signed.
 */
export function findConflicts(histories: readonly SignHistory[]): SignConflict[] {
  const groups = new Map<string, SignRecord[]>();
  for (const history of histories) {
    for (const record of history.records) {
      const key = `${record.chainId}\u0000${hex(record.pubKey)}\u0000${record.height}\u0000${record.round}\u0000${record.step}`;
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [record]);
      else group.push(record);
    }
  }
  const conflicts: SignConflict[] = [];
  for (const group of groups.values()) {
    // Classes of records that agree on everything but the timestamp; one representative each.
    const classes: { representative: SignRecord; parsed: CanonicalSignBytes | null }[] = [];
    for (const record of group) {
      const parsed = parseOrNull(record.signBytes);
      let matched = false;
      for (const cls of classes) {
        if (differencesBeyondTimestamp(cls.representative, cls.parsed, record, parsed).length === 0) {
          matched = true;
          break;
        }
      }
      if (!matched) classes.push({ representative: record, parsed });
    }
    for (let i = 0; i < classes.length; i++) {
      for (let j = i + 1; j < classes.length; j++) {
        const a = classes[i] as (typeof classes)[number];
        const b = classes[j] as (typeof classes)[number];
        conflicts.push({
          chainId: a.representative.chainId,
          pubKey: hex(a.representative.pubKey),
          height: a.representative.height,
          round: a.representative.round,
          step: a.representative.step,
          first: a.representative,
          second: b.representative,
          differences: differencesBeyondTimestamp(a.representative, a.parsed, b.representative, b.parsed),
        });
      }
    }
  }
  return conflicts;
}

function parseOrNull(signBytes: Uint8Array): CanonicalSignBytes | null {
  try {
    return decodeCanonicalSignBytes(signBytes);
  } catch {
    return null;
  }
}

function differencesBeyondTimestamp(
  a: SignRecord,
  aParsed: CanonicalSignBytes | null,
  b: SignRecord,
  bParsed: CanonicalSignBytes | null,
): string[] {
  if (bytesEqual(a.signBytes, b.signBytes)) return [];
  // Bytes that do not parse cannot be shown to be the same vote: a conflict until explained.
  if (aParsed === null || bParsed === null) return ['sign bytes (not canonical)'];
  return canonicalDifferences(aParsed, bParsed).filter((field) => field !== 'timestamp');
}
