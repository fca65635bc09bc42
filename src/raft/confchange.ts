// Membership changes, one server at a time (Raft thesis 4.1). They travel as ConfChange log
// entries and take effect when the entry is COMMITTED (known committed by this node), not when it
// is appended. We chose the commit point, as etcd-io/raft does with its apply point, because then
// the membership is a pure function of the committed log: a follower never has to undo a
// configuration when a conflicting suffix is truncated, and a restart recomputes it from the
// snapshot plus the committed entries. The leader keeps this safe by proposing a change only when
// the previous one is committed and after it has committed an entry of its own term (the fix for
// the single-server change bug described on raft-dev in 2015).

import { ConfState, Incarnation, incarnationOf, NodeId } from './types';
import { RaftSignerError } from '../util/errors';

export type ConfChange =
  /**
   * The cluster's first membership, the entry at index 1 that every founding node writes: the
   * founders and the store each founded it with (see founding.ts in src/node).
   */
  | { type: 'bootstrap'; voters: NodeId[]; incarnations?: Record<NodeId, Incarnation> }
  /**
   * Add a non-voting member: it replicates everything and counts for nothing. `incarnation` names
   * the store it joins with; only that store is ever counted once it is promoted.
   */
  | { type: 'addLearner'; node: NodeId; incarnation?: Incarnation }
  /** Make a learner a voter. */
  | { type: 'promote'; node: NodeId }
  /** Remove a voter or a learner. */
  | { type: 'remove'; node: NodeId };

export class ConfChangeError extends RaftSignerError<{ code: 'CONF_CHANGE_INVALID' }> {
  constructor(message: string) {
    super({ code: 'CONF_CHANGE_INVALID' }, message);
    this.name = 'ConfChangeError';
  }
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return Buffer.from(JSON.stringify(cc), 'utf8');
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (e) {
    throw new ConfChangeError(`undecodable membership change entry: ${(e as Error).message}`);
  }
  const o = parsed as Record<string, unknown>;
  if (o && o.type === 'bootstrap' && Array.isArray(o.voters) && o.voters.every(isNodeId)) {
    const voters = o.voters as NodeId[];
    if (o.incarnations === undefined) return { type: 'bootstrap', voters };
    const inc = o.incarnations as Record<string, unknown>;
    if (typeof inc === 'object' && inc !== null && !Array.isArray(inc) && Object.entries(inc).every(([k, v]) => voters.includes(k) && isIncarnation(v))) {
      return { type: 'bootstrap', voters, incarnations: { ...(inc as Record<NodeId, Incarnation>) } };
    }
  }
  if (o && o.type === 'addLearner' && isNodeId(o.node) && (o.incarnation === undefined || isIncarnation(o.incarnation))) {
    return o.incarnation === undefined ? { type: 'addLearner', node: o.node } : { type: 'addLearner', node: o.node, incarnation: o.incarnation };
  }
  if (o && (o.type === 'promote' || o.type === 'remove') && isNodeId(o.node)) {
    return { type: o.type, node: o.node };
  }
  throw new ConfChangeError(`malformed membership change entry: ${Buffer.from(data).toString('utf8').slice(0, 200)}`);
}

function isNodeId(v: unknown): v is NodeId {
  return typeof v === 'string' && v.length > 0;
}

function isIncarnation(v: unknown): v is Incarnation {
  return typeof v === 'string' && v.length <= 64;
}

/**
 * Checks a change against the membership it would modify and returns the result. Throws a
 * ConfChangeError that says why a change makes no sense; the leader calls this before proposing,
 * and every node applies only changes that pass it (so a bad entry is a no-op everywhere alike).
 */
export function applyConfChange(cs: ConfState, cc: ConfChange): ConfState {
  const voters = new Set(cs.voters);
  const learners = new Set(cs.learners);
  const incarnations = new Map<NodeId, Incarnation>();
  for (const id of [...cs.voters, ...cs.learners]) incarnations.set(id, incarnationOf(cs, id));
  switch (cc.type) {
    case 'bootstrap': {
      if (voters.size > 0 || learners.size > 0) throw new ConfChangeError('the cluster is already bootstrapped');
      if (cc.voters.length === 0) throw new ConfChangeError('a cluster needs at least one voter');
      const founders = [...new Set(cc.voters)].sort();
      return withIncarnations(founders, [], (id) => cc.incarnations?.[id] ?? '');
    }
    case 'addLearner':
      if (voters.has(cc.node)) {
        throw new ConfChangeError(
          `${cc.node} is already a voter` +
            (cc.incarnation !== undefined && cc.incarnation !== incarnations.get(cc.node)
              ? ` with another store (${shortIncarnation(incarnations.get(cc.node) ?? '')}); remove it first, then add its new store as a learner`
              : ''),
        );
      }
      if (learners.has(cc.node)) throw new ConfChangeError(`${cc.node} is already a learner`);
      learners.add(cc.node);
      incarnations.set(cc.node, cc.incarnation ?? '');
      break;
    case 'promote':
      if (voters.has(cc.node)) throw new ConfChangeError(`${cc.node} is already a voter`);
      if (!learners.has(cc.node)) throw new ConfChangeError(`${cc.node} is not a learner: add it as a learner first`);
      learners.delete(cc.node);
      voters.add(cc.node);
      break;
    case 'remove':
      if (!voters.has(cc.node) && !learners.has(cc.node)) throw new ConfChangeError(`${cc.node} is not a member`);
      if (voters.has(cc.node) && voters.size === 1) throw new ConfChangeError(`${cc.node} is the last voter and cannot be removed`);
      voters.delete(cc.node);
      learners.delete(cc.node);
      incarnations.delete(cc.node);
      break;
  }
  return withIncarnations([...voters].sort(), [...learners].sort(), (id) => incarnations.get(id) ?? '');
}

/** A membership whose incarnations map holds exactly its members (omitted when all are ''). */
function withIncarnations(voters: NodeId[], learners: NodeId[], of: (id: NodeId) => Incarnation): ConfState {
  const map: Record<NodeId, Incarnation> = {};
  let any = false;
  for (const id of [...voters, ...learners]) {
    const inc = of(id);
    if (inc !== '') any = true;
    map[id] = inc;
  }
  return any ? { voters, learners, incarnations: map } : { voters, learners };
}

/** How an incarnation appears in messages: its first 8 characters are enough to tell stores apart. */
export function shortIncarnation(inc: Incarnation): string {
  return inc === '' ? 'none' : inc.slice(0, 8);
}
