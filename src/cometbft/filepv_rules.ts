// CometBFT's FilePV double-sign rules as pure functions: given the last signed record and a
// request, what may be done. privval/file.go (v0.38.x and v1.x, identical in these rules):
// FilePVLastSignState.CheckHRS, FilePV.signVote, FilePV.signProposal,
// checkVotesOnlyDifferByTimestamp, checkProposalsOnlyDifferByTimestamp.
//
// The replicated state machine applies this to every committed sign entry, so it must be
// deterministic and total: it never throws on bad data, it refuses. Where Go panics (a stored
// record that cannot be parsed, a signature missing beside its sign bytes), we refuse as
// conflicting data, with a message saying what is wrong.

import {
  CanonicalKind,
  CanonicalSignBytes,
  Step,
  canonicalDifferences,
  decodeCanonicalSignBytes,
  isNilBlockId,
  stepName,
} from './sign_bytes';
import { SignedMsgType, Timestamp, Vote } from './messages';

/** The last thing signed for one (chain id, key): CometBFT's FilePVLastSignState. */
export interface SlashingRecord {
  height: bigint;
  round: number;
  /**
   * 1 propose, 2 prevote, 3 precommit; 0 only for an imported priv_validator_state.json that says
   * "nothing signed yet at this height and round" (below every step, as in FilePV).
   */
  step: 0 | 1 | 2 | 3;
  signBytes: Uint8Array;
  signature: Uint8Array;
}

/** A vote or proposal to sign: its height/round/step and its canonical sign bytes. */
export interface FilePvRequest {
  /**
   * The chain the request is for, when known: the sign bytes must name the same chain, or one key
   * serving two chains would let one chain's bytes be checked against the other chain's record.
   */
  chainId?: string;
  height: bigint;
  round: number;
  step: 1 | 2 | 3;
  signBytes: Uint8Array;
}

export type FilePvRefusalReason =
  | 'height-regression'
  | 'round-regression'
  | 'step-regression'
  | 'conflicting-data'
  /** The request's sign bytes do not parse, or say another height/round/step than the request. */
  | 'invalid-request';

export type FilePvDecision =
  /** Higher than the record: sign, and make {height, round, step, signBytes, signature} the record. */
  | { kind: 'sign' }
  /** Same HRS and identical sign bytes: answer with the stored signature. */
  | { kind: 'same'; signature: Uint8Array }
  /**
   * Same HRS, only the timestamp differs: answer with the stored signature and the stored
   * timestamp (which the response must carry instead of the requested one).
   */
  | { kind: 'same-but-timestamp'; signature: Uint8Array; timestamp: Timestamp }
  | { kind: 'refuse'; reason: FilePvRefusalReason; message: string };

function kindOfStep(step: Step): CanonicalKind {
  return step === Step.Propose ? 'proposal' : 'vote';
}

function hrs(height: bigint, round: number, step: Step): string {
  return `height ${height} round ${round} step ${stepName(step)}`;
}

/** The SignedMsgType that a vote at this step must have (proposals: any, Go ignores it). */
function voteTypeOfStep(step: Step): number | null {
  return step === Step.Prevote ? SignedMsgType.Prevote : step === Step.Precommit ? SignedMsgType.Precommit : null;
}

/**
 * Defence in depth, not in file.go (where HRS and sign bytes come from one Vote): the request's
 * sign bytes must be canonical and say the request's height, round and step, so that a bug
 * upstream can never record one HRS while signing another.
 */
function checkRequest(req: FilePvRequest): { parsed: CanonicalSignBytes } | { problem: string } {
  let parsed: CanonicalSignBytes;
  try {
    parsed = decodeCanonicalSignBytes(req.signBytes, kindOfStep(req.step));
  } catch (e) {
    return { problem: `sign bytes of the request are not a canonical ${kindOfStep(req.step)}: ${(e as Error).message}` };
  }
  if (req.chainId !== undefined && parsed.chainId !== req.chainId) {
    return { problem: `request is for chain ${JSON.stringify(req.chainId)} but its sign bytes name chain ${JSON.stringify(parsed.chainId)}` };
  }
  const expectedType = voteTypeOfStep(req.step);
  if (parsed.height !== req.height || parsed.round !== req.round || (expectedType !== null && parsed.type !== expectedType)) {
    return {
      problem:
        `request says ${hrs(req.height, req.round, req.step)} but its sign bytes say height ${parsed.height} ` +
        `round ${parsed.round} type ${parsed.type}`,
    };
  }
  return { parsed };
}

/**
 * The FilePV decision for `req` given the last signed record (`null`: nothing signed yet, which
 * is FilePV's initial state 0/0/0, below every request).
 *
 * Order of checks as in file.go: regressions first (CheckHRS), then, at the same HRS, identical
 * bytes, then "only the timestamp differs", else conflicting data. For votes, the extension rule
 * (voteExtensionRule) is checked by file.go after CheckHRS and before the same-HRS comparison:
 * a caller reports a regression before an extension error, and an extension error before
 * returning a stored signature.
 */
export function decideFilePv(last: SlashingRecord | null, req: FilePvRequest): FilePvDecision {
  const checked = checkRequest(req);
  if ('problem' in checked) return { kind: 'refuse', reason: 'invalid-request', message: checked.problem };
  if (last === null) return { kind: 'sign' };

  // CheckHRS.
  if (last.height > req.height) {
    return {
      kind: 'refuse',
      reason: 'height-regression',
      message: `height regression: got ${req.height}, last signed ${last.height}`,
    };
  }
  if (last.height < req.height) return { kind: 'sign' };
  if (last.round > req.round) {
    return {
      kind: 'refuse',
      reason: 'round-regression',
      message: `round regression at height ${req.height}: got ${req.round}, last signed ${last.round}`,
    };
  }
  if (last.round < req.round) return { kind: 'sign' };
  if (last.step > req.step) {
    return {
      kind: 'refuse',
      reason: 'step-regression',
      message:
        `step regression at height ${req.height} round ${req.round}: got ${stepName(req.step)} (${req.step}), ` +
        `last signed ${stepName(last.step as Step)} (${last.step})`,
    };
  }
  if (last.step < req.step) return { kind: 'sign' };

  // Same HRS.
  const where = hrs(req.height, req.round, req.step);
  if (last.signBytes.length === 0) {
    // file.go: "no SignBytes found".
    return { kind: 'refuse', reason: 'conflicting-data', message: `no sign bytes recorded for the signed ${where}` };
  }
  if (last.signature.length === 0) {
    // file.go panics: "Signature is nil but SignBytes is not!".
    return {
      kind: 'refuse',
      reason: 'conflicting-data',
      message: `the record for ${where} has sign bytes but no signature: the slashing record is damaged`,
    };
  }
  if (bytesEqual(last.signBytes, req.signBytes)) return { kind: 'same', signature: last.signature.slice() };

  let stored: CanonicalSignBytes;
  try {
    stored = decodeCanonicalSignBytes(last.signBytes, kindOfStep(req.step));
  } catch (e) {
    return {
      kind: 'refuse',
      reason: 'conflicting-data',
      message: `the recorded sign bytes for ${where} cannot be parsed (${(e as Error).message}): the slashing record is damaged`,
    };
  }
  const differences = canonicalDifferences(stored, checked.parsed).filter((field) => field !== 'timestamp');
  if (differences.length === 0) {
    return {
      kind: 'same-but-timestamp',
      signature: last.signature.slice(),
      timestamp: { seconds: stored.timestamp.seconds, nanos: stored.timestamp.nanos },
    };
  }
  return {
    kind: 'refuse',
    reason: 'conflicting-data',
    message: `conflicting data at ${where}: a ${kindOfStep(req.step)} with a different ${differences.join(', ')} was already signed`,
  };
}

/** What a vote request needs besides the vote signature (file.go signVote, extension part). */
export type VoteExtensionRule =
  /** A precommit for a block: sign voteExtensionSignBytes, even when the extension is empty. */
  | { kind: 'sign-extension' }
  /** No extension signature may be returned (prevote, nil precommit, or signing skipped). */
  | { kind: 'no-extension-signature' }
  /** A prevote or nil precommit carries an extension: refuse the whole vote. */
  | { kind: 'refuse'; message: string };

/**
 * file.go signVote: "We therefore always re-sign the vote extensions of precommits. For prevotes
 * and nil precommits, the extension signature will always be empty", and an extension on those
 * is an error. With v1's skip_extension_signing, nothing about extensions is checked or signed.
 */
export function voteExtensionRule(
  vote: Pick<Vote, 'type' | 'blockId' | 'extension'>,
  skipExtensionSigning: boolean,
): VoteExtensionRule {
  if (skipExtensionSigning) return { kind: 'no-extension-signature' };
  if (vote.type === SignedMsgType.Precommit && !isNilBlockId(vote.blockId)) return { kind: 'sign-extension' };
  if (vote.extension.length > 0) {
    const what =
      vote.type === SignedMsgType.Precommit
        ? 'a nil precommit'
        : vote.type === SignedMsgType.Prevote
          ? 'a prevote'
          : `a vote of type ${vote.type}`;
    return {
      kind: 'refuse',
      message: `unexpected vote extension on ${what}: extensions are only allowed in non-nil precommits`,
    };
  }
  return { kind: 'no-extension-signature' };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
