// How the founders of a new cluster agree on its first membership: every founder, and the store
// each one founds it with.
//
// Why the stores: a member's votes and acknowledgements count only from the store (incarnation)
// the membership names for it (src/raft/types.ts ConfState). That is what keeps a node whose disk
// was lost, replaced or put back from a copy taken before its first start from voting as the
// member it was: its new store is not the one named. For the founders that means the first entry
// must already name their real stores, so before bootstrapping, each founder asks every other
// founder (the Raft service's Founding call) for its store id and its list of founders, and
// writes the bootstrap entry only when it has heard from all of them. Every founder computes the
// same entry from the same answers; it is recorded in the store (Keyspace.Founding) before the
// entry itself.
//
// Refusals, each with what to do:
//  - a founder lists other founders (different `peers` in config.yaml): two clusters would be
//    founded under one name, and under a partition two leaders could commit in one term;
//  - a founder already founded the cluster with another store of this node: this store is new,
//    and must rejoin as a learner;
//  - a founder already founded it with a membership this node would not compute.
// The founding digest (foundingDigest) is also checked on every Raft stream, so stores founded in
// two different ceremonies never talk.

import { createHash } from 'node:crypto';
import { NodeId } from '../raft/types';
import type { FoundingInfo, FoundingMembership } from '../transport/founding_rpc';
import { StorageError } from '../storage/errors';
import { rejoinAsLearnerSteps, RejoinCommandContext } from './new_cluster_marker';

export function encodeFounding(m: FoundingMembership): string {
  const voters = [...m.voters].sort();
  return JSON.stringify({ voters, incarnations: Object.fromEntries(voters.map((id) => [id, m.incarnations[id] ?? ''])) });
}

export function decodeFounding(text: string): FoundingMembership {
  const o = JSON.parse(text) as { voters?: unknown; incarnations?: unknown };
  if (!Array.isArray(o.voters) || !o.voters.every((v) => typeof v === 'string') || typeof o.incarnations !== 'object' || o.incarnations === null) {
    throw new Error('malformed founding record');
  }
  const incarnations = o.incarnations as Record<string, unknown>;
  const voters = o.voters as string[];
  if (!voters.every((v) => typeof incarnations[v] === 'string')) throw new Error('malformed founding record');
  return { voters: [...voters].sort(), incarnations: Object.fromEntries(voters.map((v) => [v, incarnations[v] as string])) };
}

/** The cluster's founding identity, as the Raft stream handshake compares it. */
export function foundingDigest(m: FoundingMembership): string {
  return createHash('sha256').update(encodeFounding(m)).digest('hex').slice(0, 32);
}

export function describeFounding(m: FoundingMembership): string {
  return m.voters.map((id) => `${id} (store ${(m.incarnations[id] ?? '').slice(0, 8) || 'none'})`).join(', ');
}

export type { FoundingInfo, FoundingMembership };

export class FoundingRefusedError extends StorageError<{ code: 'FOUNDING_REFUSED' }> {
  constructor(message: string) {
    super(message, undefined, { code: 'FOUNDING_REFUSED' });
    this.name = 'FoundingRefusedError';
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Why `theirs` cannot found a cluster with us, or null. */
export function foundersDifference(ours: readonly NodeId[], theirs: readonly NodeId[]): string | null {
  if (sameList(ours, theirs)) return null;
  const onlyOurs = ours.filter((id) => !theirs.includes(id));
  const onlyTheirs = theirs.filter((id) => !ours.includes(id));
  const parts = [];
  if (onlyOurs.length > 0) parts.push(`it does not list ${onlyOurs.join(', ')}`);
  if (onlyTheirs.length > 0) parts.push(`it lists ${onlyTheirs.join(', ')}, which this node does not`);
  return parts.join('; ');
}

export interface FoundingPeer {
  id: NodeId;
  address: string;
}

export interface GatherFoundingOptions {
  selfId: NodeId;
  storeId: string;
  /** The other founders and where to ask them. */
  peers: FoundingPeer[];
  /** Asks one peer; rejects when it cannot be reached (asked again later). */
  ask: (peer: FoundingPeer) => Promise<FoundingInfo>;
  /** Told once per peer that has not answered yet, and again every so often. */
  waiting: (peer: FoundingPeer, why: string) => void;
  /** Pause between rounds. */
  sleep: (ms: number) => Promise<void>;
  /** Resolves true when the node is being stopped: give up. */
  stopped: () => boolean;
  rejoin: RejoinCommandContext;
  retryMs?: number;
}

/**
 * Asks every other founder until all have answered, then returns the founding membership. Throws
 * FoundingRefusedError for the refusals listed at the top of this file.
 */
export async function gatherFounding(options: GatherFoundingOptions): Promise<FoundingMembership> {
  const founders = [options.selfId, ...options.peers.map((p) => p.id)].sort();
  const stores = new Map<NodeId, string>([[options.selfId, options.storeId]]);
  for (;;) {
    for (const peer of options.peers) {
      if (stores.has(peer.id)) continue;
      let info: FoundingInfo;
      try {
        info = await options.ask(peer);
      } catch (e) {
        options.waiting(peer, (e as Error).message);
        continue;
      }
      if (info.nodeId !== peer.id) {
        throw new FoundingRefusedError(`the founder at ${peer.address} says it is ${info.nodeId}, not ${peer.id}: check the peers in config.yaml`);
      }
      const difference = foundersDifference(founders, info.founders);
      if (difference !== null) {
        throw new FoundingRefusedError(
          `${peer.id} would found another cluster: its config.yaml lists the founders ${info.founders.join(', ')}, ` +
            `this node's lists ${founders.join(', ')} (${difference}). Give every founder the same peers, then start again.`,
        );
      }
      if (info.founded !== null) {
        let founded: FoundingMembership;
        try {
          founded = decodeFounding(info.founded);
        } catch {
          throw new FoundingRefusedError(`${peer.id} answered with a founding record this node cannot read: is it running another version?`);
        }
        if (info.storeSeen) {
          throw new FoundingRefusedError(
            `${peer.id} has heard from this very store (${options.storeId.slice(0, 8)}) before, yet it holds nothing: this home ` +
              `was put back from a copy taken before its first entry, and it must not vote as if nothing happened. ` +
              `${rejoinAsLearnerSteps(options.rejoin)}`,
          );
        }
        return adoptFounded(options, founders, peer.id, founded);
      }
      stores.set(peer.id, info.storeId);
    }
    if (stores.size === founders.length) {
      return { voters: founders, incarnations: Object.fromEntries(founders.map((id) => [id, stores.get(id) as string])) };
    }
    if (options.stopped()) throw new FoundingRefusedError('stopped before every founder had answered; nothing was founded');
    await options.sleep(options.retryMs ?? 250);
  }
}

/** A founder has already bootstrapped: join its founding if it names this very store. */
function adoptFounded(options: GatherFoundingOptions, founders: NodeId[], by: NodeId, founded: FoundingMembership): FoundingMembership {
  if (!sameList(founded.voters, founders)) {
    throw new FoundingRefusedError(
      `${by} founded the cluster with ${founded.voters.join(', ')}, not with this node's founders ${founders.join(', ')}: ` +
        `give every founder the same peers in config.yaml.`,
    );
  }
  const named = founded.incarnations[options.selfId] ?? '';
  if (named !== options.storeId) {
    throw new FoundingRefusedError(
      `the cluster was already founded (by ${describeFounding(founded)}) with another store of ${options.selfId} ` +
        `(${named.slice(0, 8)}), and this data directory holds a new one (${options.storeId.slice(0, 8)}): this node's data ` +
        `is gone or was put back from a copy taken before its first start, and it must not vote as if nothing happened. ` +
        `${rejoinAsLearnerSteps(options.rejoin)}`,
    );
  }
  return founded;
}
