// The Signer service's wire form (proto/signer.proto): the messages as grpc-js hands them over,
// and their translation to and from the sign path's vocabulary. Both the server and the clients
// of the service use it; nothing here talks to the network.

import * as grpc from '@grpc/grpc-js';
import { isSignRefusalReason, SignOutcome, SignRefusalReason, SignRequest } from '../cometbft/sign_types';
import type { LeaderAnswer } from '../replica/leader_answer';
import { loadProtoFile } from './proto_loader';

const Outcome = { Signed: 1, SignedWithStoredTimestamp: 2, Refused: 3 } as const;
const DecideKind = { Decided: 1, Refused: 2, NotLeader: 3 } as const;

/** Reconnect backoff of a follower's channel to a peer it may have to forward to. */
export const FORWARD_RECONNECT_BACKOFF_MS = { initial: 50, max: 250 } as const;

/** Longest a forwarded or tool request may ask to wait: the validator node gives up at 5 s. */
export const MAX_TIMEOUT_MS = 5000;

export interface WireSignRequest {
  chainId: string;
  pubKey: Buffer;
  height: string;
  round: number;
  step: number;
  signBytes: Buffer;
  timeoutMs: number;
}

export interface WireSignResponse {
  outcome: number;
  signature: Buffer;
  storedTimestampSeconds: string;
  storedTimestampNanos: number;
  refusalReason: string;
  message: string;
}

export interface WireForwardRequest {
  id: string;
  request: WireSignRequest | null;
}

export interface WireForwardResponse {
  id: string;
  answer: WireDecideResponse | null;
  invalid: string;
}

export interface WireDecideResponse {
  kind: number;
  index: string;
  term: string;
  position: number;
  refusalReason: string;
  message: string;
  leaderHint: string;
}

export function signerService(): grpc.ServiceClientConstructor {
  const tree = loadProtoFile('signer.proto');
  const pkg = ((tree.raftsigner as grpc.GrpcObject).signer as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return pkg.Signer as grpc.ServiceClientConstructor;
}

export function toWireRequest(r: SignRequest, timeoutMs: number): WireSignRequest {
  return {
    chainId: r.chainId,
    pubKey: Buffer.from(r.pubKey),
    height: r.height.toString(),
    round: r.round,
    step: r.step,
    signBytes: Buffer.from(r.signBytes),
    timeoutMs: Math.max(0, Math.min(MAX_TIMEOUT_MS, Math.round(timeoutMs))),
  };
}

/** A request off the wire, checked: malformed input is refused here, never passed on. */
export function fromWireRequest(w: WireSignRequest): SignRequest | string {
  if (!/^-?\d+$/.test(w.height)) return `height ${JSON.stringify(w.height)} is not an integer`;
  const height = BigInt(w.height);
  if (height <= 0n) return `height must be positive, got ${height}`;
  if (w.round < 0) return `round must not be negative, got ${w.round}`;
  if (w.step !== 1 && w.step !== 2 && w.step !== 3) return `step must be 1, 2 or 3, got ${w.step}`;
  if (w.pubKey.length !== 32) return `pub_key must be 32 bytes, got ${w.pubKey.length}`;
  if (w.chainId === '') return 'chain_id is empty';
  return { chainId: w.chainId, pubKey: w.pubKey, height, round: w.round, step: w.step, signBytes: w.signBytes };
}

export function reasonOf(wire: string): SignRefusalReason {
  // An unknown reason (from a newer peer) is still a refusal; report it as a disagreement.
  return isSignRefusalReason(wire) ? wire : 'disagreement';
}

export function toWireOutcome(o: SignOutcome): WireSignResponse {
  const base = { signature: Buffer.alloc(0), storedTimestampSeconds: '0', storedTimestampNanos: 0, refusalReason: '', message: '' };
  switch (o.kind) {
    case 'signed':
      return { ...base, outcome: Outcome.Signed, signature: Buffer.from(o.signature) };
    case 'signed-with-stored-timestamp':
      return {
        ...base,
        outcome: Outcome.SignedWithStoredTimestamp,
        signature: Buffer.from(o.signature),
        storedTimestampSeconds: o.timestamp.seconds.toString(),
        storedTimestampNanos: o.timestamp.nanos,
      };
    case 'refused':
      return { ...base, outcome: Outcome.Refused, refusalReason: o.reason, message: o.message };
  }
}

export function fromWireOutcome(w: WireSignResponse): SignOutcome {
  switch (w.outcome) {
    case Outcome.Signed:
      return { kind: 'signed', signature: w.signature };
    case Outcome.SignedWithStoredTimestamp:
      return {
        kind: 'signed-with-stored-timestamp',
        signature: w.signature,
        timestamp: { seconds: BigInt(w.storedTimestampSeconds), nanos: w.storedTimestampNanos },
      };
    default:
      return { kind: 'refused', reason: reasonOf(w.refusalReason), message: w.message };
  }
}

export function toWireDecide(a: LeaderAnswer): WireDecideResponse {
  const base = { index: '0', term: '0', position: 0, refusalReason: '', message: '', leaderHint: '' };
  switch (a.kind) {
    case 'decided':
      return { ...base, kind: DecideKind.Decided, index: String(a.index), term: String(a.term), position: a.position };
    case 'refused':
      return { ...base, kind: DecideKind.Refused, refusalReason: a.reason, message: a.message };
    case 'not-leader':
      return { ...base, kind: DecideKind.NotLeader, leaderHint: a.leaderHint ?? '' };
    case 'broken-outcome':
      throw new Error('a broken-variant answer is never sent over the wire');
  }
}

export function fromWireDecide(w: WireDecideResponse): LeaderAnswer {
  switch (w.kind) {
    case DecideKind.Decided: {
      const index = Number(w.index);
      const term = Number(w.term);
      if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term) || w.position < -1) {
        throw new Error(`the leader answered an impossible position (index ${w.index}, term ${w.term}, position ${w.position})`);
      }
      return { kind: 'decided', index, term, position: w.position };
    }
    case DecideKind.Refused:
      return { kind: 'refused', reason: reasonOf(w.refusalReason), message: w.message };
    default:
      return { kind: 'not-leader', leaderHint: w.leaderHint === '' ? null : w.leaderHint };
  }
}
