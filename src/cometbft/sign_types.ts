// The sign path's vocabulary, shared by the privval connections (which turn a validator node's
// SignVoteRequest / SignProposalRequest into a SignRequest), the gRPC Signer service (forwarding
// and tools) and the replicated state machine.

import { Timestamp } from './messages';
import { FilePvRefusalReason } from './filepv_rules';

/** One vote or proposal to sign for one chain and key, as canonical sign bytes plus its HRS. */
export interface SignRequest {
  chainId: string;
  /** The validator's Ed25519 public key (32 bytes): records are kept per (chain id, key). */
  pubKey: Uint8Array;
  height: bigint;
  round: number;
  /** FilePV step: proposal 1, prevote 2, precommit 3. */
  step: 1 | 2 | 3;
  /** The canonical sign bytes (privval/sign_bytes.ts); their HRS must agree with the fields above. */
  signBytes: Uint8Array;
}

/** A string naming a request exactly (chain, key, HRS and sign bytes): identical requests share it. */
export function signRequestKey(r: SignRequest): string {
  return `${Buffer.from(r.pubKey).toString('hex')}:${r.height}:${r.round}:${r.step}:${Buffer.from(r.signBytes).toString('hex')}:${r.chainId}`;
}

export function sameSignRequest(a: SignRequest, b: SignRequest): boolean {
  return (
    a.chainId === b.chainId &&
    a.height === b.height &&
    a.round === b.round &&
    a.step === b.step &&
    Buffer.from(a.pubKey).equals(Buffer.from(b.pubKey)) &&
    Buffer.from(a.signBytes).equals(Buffer.from(b.signBytes))
  );
}

/**
 * Why no signature was released: the one list every other list (wire codes, metrics labels,
 * privval error codes) derives from. Each reason has a class:
 *  - 'conflict': the request conflicts with or regresses below what was signed (FilePV);
 *  - 'invalid': the request cannot be served here as asked (bad bytes, unknown chain or key);
 *  - 'transient': nothing was decided, asking again may succeed (no leader, no quorum in time,
 *    this node stopping or not allowed to sign);
 *  - 'internal': this node's own state disagrees with the cluster's; the log says more.
 */
export const SIGN_REFUSAL_REASONS = {
  'height-regression': 'conflict',
  'round-regression': 'conflict',
  'step-regression': 'conflict',
  'conflicting-data': 'conflict',
  /** The request's sign bytes do not parse, or say another height/round/step than the request. */
  'invalid-request': 'invalid',
  /** No chain with this id is configured on this node. */
  'unknown-chain': 'invalid',
  /** The chain is configured with another key than the one asked for. */
  'wrong-key': 'invalid',
  /** No leader is known, the leader could not be reached, or leadership changed mid-request. */
  'no-leader': 'transient',
  /** The request could not be committed and applied before its deadline (no quorum, or too slow). */
  'deadline': 'transient',
  /** This node is stopping or has stopped after an error. */
  'node-stopped': 'transient',
  /**
   * This node may not sign: it is a learner, not (or no longer) a member, or it runs on a store
   * the membership does not name (its data was lost or replaced). It neither forwards nor
   * proposes nor releases.
   */
  'not-a-voter': 'transient',
  /** This node's own record disagrees with the leader's answer: nothing is released. */
  'disagreement': 'internal',
} as const satisfies Record<FilePvRefusalReason, 'conflict' | 'invalid'> & Record<string, RefusalClass>;

export type RefusalClass = 'conflict' | 'invalid' | 'transient' | 'internal';
export type SignRefusalReason = keyof typeof SIGN_REFUSAL_REASONS;

/** Every refusal reason, in the order of SIGN_REFUSAL_REASONS. */
export const SIGN_REFUSAL_REASON_LIST = Object.keys(SIGN_REFUSAL_REASONS) as SignRefusalReason[];

export function isSignRefusalReason(s: string): s is SignRefusalReason {
  return Object.prototype.hasOwnProperty.call(SIGN_REFUSAL_REASONS, s);
}

export function refusalClass(reason: SignRefusalReason): RefusalClass {
  return SIGN_REFUSAL_REASONS[reason];
}

export type SignOutcome =
  /** Signed now, or the identical request was signed before: the signature of `signBytes`. */
  | { kind: 'signed'; signature: Uint8Array }
  /**
   * The same vote or proposal was signed before with another timestamp (FilePV): the response
   * must carry the stored signature AND the stored timestamp instead of the requested one.
   */
  | { kind: 'signed-with-stored-timestamp'; signature: Uint8Array; timestamp: Timestamp }
  | { kind: 'refused'; reason: SignRefusalReason; message: string };

export type SignRefusal = Extract<SignOutcome, { kind: 'refused' }>;
export type SignSignature = Exclude<SignOutcome, SignRefusal>;

export function refused(reason: SignRefusalReason, message: string): SignRefusal {
  return { kind: 'refused', reason, message };
}

/** What a privval connection needs from its node: the keys it serves and the sign path. */
export interface SignPath {
  /** The public key configured for a chain, or null when the chain is not served here. */
  publicKeyFor(chainId: string): Uint8Array | null;
  /** Signs arbitrary bytes with the chain's key: only for vote extensions, which FilePV re-signs freely. */
  signExtension(chainId: string, extensionSignBytes: Uint8Array): Uint8Array;
  /** The slashing-protected sign path; never rejects, every failure is a 'refused' outcome. */
  sign(request: SignRequest): Promise<SignOutcome>;
}
