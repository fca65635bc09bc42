// `raft-signer status --home DIR [--json]`: asks every member, through this node's configuration
// and certificate, for its state. Exit status 0 when a majority of the members answered.

import { Command } from 'commander';
import { fetchNodeStatus, NodeStatusView } from '../node/admin_service';
import { clusterClient, grpcErrorText } from './cluster_client';

export interface ClusterStatusRow {
  id: string;
  role: string;
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
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
  /** How many members answered, and how many make a majority. */
  reachable: number;
  majority: number;
}

export async function queryClusterStatus(home: string, deadlineMs = 2000): Promise<ClusterStatus> {
  const { config, credentialsFor } = clusterClient(home);
  const answers = await Promise.all(
    config.peers.map(async (peer): Promise<{ id: string; status?: NodeStatusView; error?: string }> => {
      try {
        const status = await fetchNodeStatus(peer.address, credentialsFor(peer.id), peer.id, deadlineMs);
        return { id: peer.id, status };
      } catch (e) {
        return { id: peer.id, error: grpcErrorText(e) };
      }
    }),
  );
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
      ? { id: a.id, role: a.status.role, term: a.status.term, commitIndex: a.status.commitIndex, appliedIndex: a.status.appliedIndex }
      : { id: a.id, role: 'unreachable', term: null, commitIndex: null, appliedIndex: null, error: a.error },
  );
  const reachable = answers.filter((a) => a.status).length;
  // The watermarks from the member that has applied the most (the others may lag behind).
  let freshest: NodeStatusView | undefined;
  for (const a of answers) if (a.status && (!freshest || a.status.appliedIndex > freshest.appliedIndex)) freshest = a.status;
  const chains = (freshest?.chains ?? []).map(({ chainId, pubKey, height, round, step }) => ({ chainId, pubKey, height, round, step }));
  return { leader, chains, nodes, reachable, majority: Math.floor(config.peers.length / 2) + 1 };
}

export function formatStatusTable(s: ClusterStatus): string {
  const header = ['NODE', 'ROLE', 'TERM', 'COMMIT', 'APPLIED'];
  const rows = s.nodes.map((n) => [n.id, n.role, String(n.term ?? '-'), String(n.commitIndex ?? '-'), String(n.appliedIndex ?? '-')]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(header), ...rows.map(line)];
  out.push('');
  out.push(`leader: ${s.leader ?? 'none'}; ${s.reachable} of ${s.nodes.length} nodes answered (a majority is ${s.majority})`);
  for (const c of s.chains) {
    out.push(`chain ${c.chainId} key ${c.pubKey.slice(0, 16)}…: last signed height ${c.height} round ${c.round} step ${c.step}`);
  }
  for (const n of s.nodes) if (n.error) out.push(`${n.id}: ${n.error}`);
  return out.join('\n') + '\n';
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("ask the cluster for its state through this node's configuration")
    .requiredOption('--home <dir>', "a node's home directory (holds config.yaml)")
    .option('--json', 'one JSON object on stdout')
    .action(async (opts: { home: string; json?: boolean }) => {
      const status = await queryClusterStatus(opts.home);
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({
            leader: status.leader,
            nodes: status.nodes.map(({ id, role, term, commitIndex, appliedIndex }) => ({ id, role, term, commitIndex, appliedIndex })),
            reachable: status.reachable,
            majority: status.majority,
            chains: status.chains.map((c) => ({ ...c, height: Number(c.height) })),
          }) + '\n',
        );
      } else {
        process.stdout.write(formatStatusTable(status));
      }
      if (status.reachable < status.majority) process.exitCode = 1;
    });
}
