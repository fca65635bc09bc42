// A 3-node cluster of real processes whose peer links all cross the chaos harness's fault
// proxies, and the prevotes the double-sign reproductions send: shared by the regression tests
// that cut, heal and crash nodes at exact moments.

import { createHash } from 'node:crypto';
import { FaultNetwork } from '../../src/chaos/fault_network';
import { ProcessCluster, waitFor } from '../../src/harness/process_cluster';
import { BlockId, SignedMsgType, emptyVote } from '../../src/cometbft/messages';
import { voteSignBytes } from '../../src/cometbft/sign_bytes';
import { SignRequest } from '../../src/cometbft/sign_types';

export const NIL: BlockId = { hash: new Uint8Array(0), partSetHeader: { total: 0, hash: new Uint8Array(0) } };
export const BLOCK: BlockId = {
  hash: createHash('sha256').update('X').digest(),
  partSetHeader: { total: 1, hash: createHash('sha256').update('X/parts').digest() },
};

export function prevote(chainId: string, pubKey: Uint8Array, height: bigint, blockId: BlockId): SignRequest {
  const vote = { ...emptyVote(), type: SignedMsgType.Prevote, height, round: 0, blockId, timestamp: { seconds: 1_700_000_000n, nanos: 0 } };
  return { chainId, pubKey, height, round: 0, step: 2, signBytes: voteSignBytes(chainId, vote) };
}

/** Starts the cluster (after `beforeStart`, e.g. to copy the homes before the first start). */
export async function proxiedCluster(chainId: string, beforeStart?: (c: ProcessCluster) => void): Promise<{ cluster: ProcessCluster; network: FaultNetwork }> {
  const ids = ['node0', 'node1', 'node2'];
  const network = await FaultNetwork.create(ids, 1);
  const cluster = await ProcessCluster.create({
    nodes: 3,
    chainId,
    configure: (cfg, id) => {
      const peers = cfg.peers as { id: string; address: string }[];
      cfg.peers = peers.map((p) => (p.id === id ? p : { id: p.id, address: network.route(id, p.id) }));
    },
  });
  network.setTargets((id) => cluster.testnet.nodes.find((n) => n.id === id)?.address ?? null);
  beforeStart?.(cluster);
  cluster.startAll();
  return { cluster, network };
}

export async function leaderAmong(cluster: ProcessCluster, among: string[]): Promise<string> {
  return waitFor(`a leader among ${among.join(', ')}`, 20_000, async () => {
    for (const id of among) {
      const s = await cluster.nodeStatus(id, 500).catch(() => null);
      if (s?.role === 'leader') return id;
    }
    return undefined;
  });
}
