// The signer the CLI's chaos command always tests: real `raft-signer start` processes made from a
// fresh testnet by ProcessCluster. Each node's config.yaml is rewritten before the first start:
// - every peer address becomes the fault proxy for that directed link (peerRoute), so all Raft
//   and forwarding traffic between nodes crosses the harness's proxies;
// - the chains are the harness's: one key per chain (mode 0600, the same file on every node) and
//   each node's own stand-in address;
// - compaction is made frequent, so that snapshots, InstallSnapshot and a node restored from a
//   copy older than the leader's compacted log all happen within a short run.

import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { RaftConfigFile } from '../config/node_config_schema';
import { writePlainValidatorKeyFile } from '../keys/validator_key';
import { ProcessCluster } from '../harness/process_cluster';
import { ChaosClusterPlan, SignerCapability, SignerCluster, SignerLauncher, SignerNodeView } from './signer_launcher';

export interface ProcessSignerLauncherOptions {
  /** Raft settings written into every config.yaml (default: compaction every 500 entries). */
  raft?: RaftConfigFile;
  /** Extra environment for the node processes. */
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_CHAOS_RAFT: RaftConfigFile = { snapshotEntries: 500 };

function keyFileName(chainIndex: number): string {
  return `chaos_validator_key_${chainIndex}.json`;
}

export class ProcessSignerLauncher implements SignerLauncher {
  readonly name = 'raft-signer';

  constructor(private readonly options: ProcessSignerLauncherOptions = {}) {}

  async launch(plan: ChaosClusterPlan): Promise<SignerCluster> {
    const first = plan.chains[0];
    if (first === undefined) throw new Error('a chaos cluster needs at least one chain');
    const raft = { ...DEFAULT_CHAOS_RAFT, ...this.options.raft };
    const cluster = await ProcessCluster.create({
      nodes: plan.ids.length,
      chainId: first.chainId,
      root: plan.root,
      configure: (cfg, id) => {
        const index = plan.ids.indexOf(id);
        if (index < 0) throw new Error(`the testnet made a node ${id} the plan does not know`);
        const peers = cfg.peers as { id: string; address: string }[];
        cfg.peers = peers.map((p) => (p.id === id ? p : { id: p.id, address: plan.peerRoute(id, p.id) }));
        cfg.chains = plan.chains.map((c, k) => ({ chainId: c.chainId, keyFile: keyFileName(k), validatorAddrs: [c.validatorAddrs[index]] }));
        cfg.raft = { ...(cfg.raft as RaftConfigFile | undefined), ...raft };
      },
      env: this.options.env,
    });
    try {
      if (cluster.ids.join(',') !== plan.ids.join(',')) throw new Error(`the testnet's nodes ${cluster.ids.join(', ')} are not ${plan.ids.join(', ')}`);
      for (const id of cluster.ids) {
        plan.chains.forEach((c, k) => writePlainValidatorKeyFile(path.join(cluster.home(id), keyFileName(k)), c.key));
      }
    } catch (err) {
      await cluster.destroy({ keepFiles: true });
      throw err;
    }
    return new ProcessSignerCluster(cluster);
  }
}

class ProcessSignerCluster implements SignerCluster {
  readonly capabilities: ReadonlySet<SignerCapability> = new Set<SignerCapability>(['pause', 'terminate', 'storage', 'network']);

  constructor(private readonly cluster: ProcessCluster) {}

  get ids(): readonly string[] {
    return this.cluster.ids;
  }

  listenAddress(id: string): string | null {
    return this.cluster.testnet.nodes.find((n) => n.id === id)?.address ?? null;
  }

  async start(id: string): Promise<void> {
    this.cluster.start(id);
  }

  async kill(id: string): Promise<void> {
    await this.cluster.kill(id);
  }

  async terminate(id: string): Promise<void> {
    // A paused process would never act on SIGTERM.
    await this.cluster.signal(id, 'SIGCONT');
    await this.cluster.stop(id);
  }

  async pause(id: string): Promise<void> {
    await this.cluster.signal(id, 'SIGSTOP');
  }

  async resume(id: string): Promise<void> {
    await this.cluster.signal(id, 'SIGCONT');
  }

  isRunning(id: string): boolean {
    return this.cluster.isRunning(id);
  }

  /**
   * The documented rejoin of a node that lost its data (new_cluster_marker.ts): `cluster remove`,
   * `join: true`, start, `cluster add-learner`, catch up, `cluster promote`. The admin commands go
   * to the members' real addresses with the testnet's admin certificate: the operator's path is
   * not part of the fault model.
   */
  async rejoinWithEmptyStore(id: string, waitCaughtUp: () => Promise<void>): Promise<void> {
    const self = this.cluster.testnet.nodes.find((n) => n.id === id);
    if (self === undefined) throw new Error(`no node ${id}`);
    const endpoints = this.cluster.testnet.nodes.filter((n) => n.id !== id).map((n) => n.address);
    const admin = ['--admin', this.cluster.testnet.adminDir, '--endpoints', endpoints.join(',')];
    const run = async (args: string[]): Promise<void> => {
      const r = await this.cluster.cli([...args, ...admin], 30_000);
      if (r.code !== 0) throw new Error(`raft-signer ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
    };
    await run(['cluster', 'remove', '--id', id]);
    const cfg = YAML.parse(fs.readFileSync(self.configFile, 'utf8')) as Record<string, unknown>;
    cfg.join = true;
    fs.writeFileSync(self.configFile, YAML.stringify(cfg));
    this.cluster.start(id);
    await run(['cluster', 'add-learner', '--id', id, '--address', self.address]);
    await waitCaughtUp();
    await run(['cluster', 'promote', '--id', id]);
  }

  dataDir(id: string): string {
    return this.cluster.dataDir(id);
  }

  status(deadlineMs = 1000): Promise<SignerNodeView[]> {
    return Promise.all(
      this.cluster.ids.map(async (id): Promise<SignerNodeView> => {
        const running = this.cluster.isRunning(id);
        if (!running) return { id, running, role: null, term: null, commitIndex: null, appliedIndex: null };
        try {
          const s = await this.cluster.nodeStatus(id, deadlineMs);
          return { id, running, role: s.role, term: s.term, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex };
        } catch {
          return { id, running, role: null, term: null, commitIndex: null, appliedIndex: null };
        }
      }),
    );
  }

  logFile(id: string): string | null {
    return this.cluster.logPath(id);
  }

  async destroy(): Promise<void> {
    // The harness's root holds the logs it still copies; it removes the directory itself.
    await this.cluster.destroy({ keepFiles: true });
  }

  killAllSync(): void {
    this.cluster.killAllSync();
  }
}
