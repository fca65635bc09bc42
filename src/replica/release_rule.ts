// The one safety rule (docs/design.md, "the one rule"), as the one function that decides what a
// node may hand to its validator node. A signature leaves a node only when THIS node has durably
// applied the committed entry that decided it, and only as this node's own decision for that entry
// (the same request, at the place the leader named, in the term it named) or as its own record.
// Nothing the leader says is released; nothing is signed here.
//
// A ReleasableSignature can only be made by this module: the sign path's reply takes a
// ReleasableSignature or a refusal, so every path to the validator node goes through this rule.

import type { EntryDecision } from '../signer/signer_state_machine';
import { refused, sameSignRequest, SignOutcome, SignRefusal, SignRequest, SignSignature } from '../cometbft/sign_types';

declare const releasable: unique symbol;
/** A signature the release rule let out. */
export type ReleasableSignature = SignSignature & { readonly [releasable]: true };
/** What a node answers its validator node: a released signature or a refusal. */
export type ReleaseAnswer = ReleasableSignature | SignRefusal;

/** This node's own applied state, as the rule reads it. */
export interface OwnRecords {
  /** The FilePV outcome against this node's record (null: the request is above it) and the index that wrote the record. */
  evaluate(request: SignRequest): { outcome: SignOutcome | null; recordIndex: number };
  /** The decisions this node made applying entry `index`, if still kept. */
  decisionAt(index: number): EntryDecision | undefined;
}

/** Where the leader says the request's fate is recorded (LeaderAnswer 'decided'). */
export interface DecidedAt {
  index: number;
  term: number;
  /** The request's place among the entry's; -1: an identical request was committed before, the record at `index` holds it. */
  position: number;
}

export type ReleaseVerdict =
  | { kind: 'answer'; answer: ReleaseAnswer }
  /** Ask again once this node has durably applied `index`. */
  | { kind: 'wait'; index: number }
  /** The record does not cover the request: it needs a new entry, decided by the leader. */
  | { kind: 'above' };

/**
 * BROKEN variants, tests only, to show the simulator's checks catch them:
 *  - 'release-without-apply': releases this node's in-memory decision or record without waiting
 *    for it to be durable, and the leader's word (a 'broken-outcome' answer) for a request;
 *  - 'trust-leader': releases the leader's word (a 'broken-outcome' answer), e.g. a signature
 *    the leader made before any entry committed.
 */
export type BrokenRelease = 'release-without-apply' | 'trust-leader';

export interface ReleaseRuleInput {
  request: SignRequest;
  own: OwnRecords;
  /** The highest index this node's disk holds the application of (ReplicaDriver.appliedDurably). */
  durableApplied: number;
  /** Null for the first look (the fast path); the leader's answer otherwise. */
  decided: DecidedAt | null;
  broken?: BrokenRelease;
}

function release(outcome: SignOutcome): ReleaseVerdict {
  return { kind: 'answer', answer: outcome.kind === 'refused' ? outcome : (outcome as ReleasableSignature) };
}

/** The release rule. Refusing is always safe, so a refusal from the own record goes out at once. */
export function releaseRule(input: ReleaseRuleInput): ReleaseVerdict {
  const { request, own, decided } = input;
  const durable = (index: number): boolean => input.broken === 'release-without-apply' || index <= input.durableApplied;
  if (decided !== null) {
    if (!durable(decided.index)) return { kind: 'wait', index: decided.index };
    const decision = own.decisionAt(decided.index);
    if (decision && decided.position >= 0 && decision.term === decided.term) {
      const mine = decision.signs[decided.position];
      if (mine && sameSignRequest(mine.request, request)) return release(mine.outcome);
      return release(refused('disagreement', `this node's entry ${decided.index} does not hold the request the leader decided there`));
    }
  }
  const ev = own.evaluate(request);
  if (ev.outcome === null) {
    if (decided === null) return { kind: 'above' };
    return release(refused('disagreement', `this node applied index ${decided.index} but its record does not hold the request`));
  }
  if (ev.outcome.kind === 'refused') return release(ev.outcome);
  if (!durable(ev.recordIndex)) return { kind: 'wait', index: ev.recordIndex };
  return release(ev.outcome);
}

/** BROKEN, tests only: the leader's word, released as it is (see BrokenRelease). */
export function brokenRelease(broken: BrokenRelease | undefined, outcome: SignOutcome): ReleaseAnswer | null {
  if (broken === undefined) return null;
  return outcome.kind === 'refused' ? outcome : (outcome as ReleasableSignature);
}
