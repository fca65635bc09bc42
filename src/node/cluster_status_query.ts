// The cluster status query: asks every member's Admin service for its state and sums it up (what
// `raft-signer status` prints). The members are config.yaml's peers plus any member the answering
// nodes know (learners and voters added since config.yaml was written), reached at the addresses
// they report.

import { fetchNodeStatus } from '../transport/admin_client';
import { NodeStatusView } from '../transport/admin_views';
import { clusterClient, grpcErrorText } from './cluster_client';

export interface ClusterStatusRow {
  id: string;
  role: string;
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  /** The node's store id (its incarnation), and whether the membership names this very store. */
  storeId?: string;
  storeNamed?: boolean;
  error?: string;
}

/** One chain's watermark, as the most up-to-date reachable node has applied it. */
export interface ChainStatusRow {
  chainId: string;
  /** Hex Ed25519 public key. */
  pubKey: string;
  height: string;
  round: number;
  step: number;
}

export interface ClusterStatus {
  leader: string | null;
  chains: ChainStatusRow[];
  nodes: ClusterStatusRow[];
  /** How many voters answered, how many there are, and how many make a majority. */
  reachable: number;
  voters: number;
  majority: number;
  /** The learners (non-voting members), as the freshest answer knows them. */
  learners: string[];
  /** The voters' ids, as the freshest answer knows them. */
  voterIds?: string[];
}

export async function queryClusterStatus(home: string, deadlineMs = 2000): Promise<ClusterStatus> {
  const { config, credentialsFor } = clusterClient(home);
  type Answer = { id: string; status?: NodeStatusView; error?: string };
  const ask = async (id: string, address: string): Promise<Answer> => {
    try {
      return { id, status: await fetchNodeStatus(address, credentialsFor(id), id, deadlineMs) };
    } catch (e) {
      return { id, error: grpcErrorText(e) };
    }
  };
  const answers = await Promise.all(config.peers.map((peer) => ask(peer.id, peer.address)));
  // The membership from the member that has applied the most (the others may lag behind).
  const freshestOf = (list: Answer[]): NodeStatusView | undefined => {
    let best: NodeStatusView | undefined;
    for (const a of list) if (a.status && (!best || a.status.appliedIndex > best.appliedIndex)) best = a.status;
    return best;
  };
  const members = freshestOf(answers);
  if (members) {
    // Members config.yaml does not list: ask them at the address a member's peer links use.
    const asked = new Set(answers.map((a) => a.id));
    const addresses = new Map<string, string>();
    for (const a of answers) for (const p of a.status?.peers ?? []) addresses.set(p.id, p.address);
    const extra = [...members.voters, ...members.learners].filter((id) => !asked.has(id));
    answers.push(
      ...(await Promise.all(
        extra.map((id) => {
          const address = addresses.get(id);
          return address ? ask(id, address) : Promise.resolve({ id, error: 'no member reports an address for it' });
        }),
      )),
    );
  }
  // The leader with the highest term any member reports (a deposed leader may not know yet).
  let leader: string | null = null;
  let leaderTerm = -1;
  for (const a of answers) {
    if (a.status?.role === 'leader' && a.status.term > leaderTerm) {
      leader = a.status.id;
      leaderTerm = a.status.term;
    }
  }
  const nodes = answers.map((a): ClusterStatusRow =>
    a.status
      ? {
          id: a.id,
          role: a.status.role,
          term: a.status.term,
          commitIndex: a.status.commitIndex,
          appliedIndex: a.status.appliedIndex,
          storeId: a.status.storeId,
          storeNamed: a.status.storeNamed,
        }
      : { id: a.id, role: 'unreachable', term: null, commitIndex: null, appliedIndex: null, error: a.error },
  );
  const freshest = freshestOf(answers);
  // A majority of the voters decides; without any answer, config.yaml's peers are the best guess.
  const voters = freshest?.voters ?? config.peers.map((p) => p.id);
  const reachable = answers.filter((a) => a.status && voters.includes(a.id)).length;
  const chains = (freshest?.chains ?? []).map(({ chainId, pubKey, height, round, step }) => ({ chainId, pubKey, height, round, step }));
  return { leader, chains, nodes, reachable, voters: voters.length, voterIds: voters, learners: freshest?.learners ?? [], majority: Math.floor(voters.length / 2) + 1 };
}
