// The signer the CLI's chaos command always tests: real `raft-signer start` processes made from a
// fresh testnet by ProcessCluster. Each node's config.yaml is rewritten before the first start:
// - every peer address becomes the fault proxy for that directed link (peerRoute), so all Raft
//   and forwarding traffic between nodes crosses the harness's proxies;
// - the chains are the harness's: one key per chain (mode 0600, the same file on every node) and
//   each node's own stand-in address;
// - compaction is made frequent, so that snapshots, InstallSnapshot and a node restored from a
//   copy older than the leader's compacted log all happen within a short run.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { RaftConfigFile } from '../config/node_config_schema';
import { writePlainValidatorKeyFile } from '../keys/validator_key';
import { ProcessCluster } from '../harness/process_cluster';
import { TESTNET_LAYOUT } from '../testnet/testnet';
import { ChaosClusterPlan, ClusterOperator, OperatorResult, SignerCapability, SignerCluster, SignerLauncher, SignerNodeView, SpareProcess } from './signer_launcher';

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
    return new ProcessSignerCluster(cluster, await freePorts(plan.ids.length + 2));
  }
}

/** Ports free on 127.0.0.1 now (for spare homes; they are only ever tried briefly). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

class ProcessSignerCluster implements SignerCluster {
  readonly capabilities: ReadonlySet<SignerCapability> = new Set<SignerCapability>(['pause', 'terminate', 'storage', 'network', 'operator']);
  readonly operator: ClusterOperator;

  constructor(
    private readonly cluster: ProcessCluster,
    sparePorts: number[],
  ) {
    this.operator = new ProcessClusterOperator(cluster, sparePorts);
  }

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
    const op = this.operator;
    const must = async (what: string, step: Promise<OperatorResult>): Promise<void> => {
      const r = await step;
      if (r.code !== 0) throw new Error(`raft-signer cluster ${what} ${id} failed (exit ${r.code}): ${firstLine(r.output)}`);
    };
    await must('remove', op.remove(id));
    op.setJoin(id, true);
    this.cluster.start(id);
    await must('add-learner', op.addLearner(id));
    await waitCaughtUp();
    await must('promote', op.promote(id));
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
          return {
            id,
            running,
            role: s.role,
            term: s.term,
            commitIndex: s.commitIndex,
            appliedIndex: s.appliedIndex,
            leader: s.leader,
            storeId: s.storeId,
            storeNamed: s.storeNamed,
          };
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

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

/**
 * The operator's steps on a ProcessCluster: the real CLI with the testnet's admin certificate
 * against the members' own addresses (the operator's path is not part of the fault model), and
 * files edited as an operator edits them.
 */
class ProcessClusterOperator implements ClusterOperator {
  private spareSeq = 0;

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly sparePorts: number[],
  ) {}

  home(id: string): string {
    return this.cluster.home(id);
  }

  private configFile(home: string): string {
    return path.join(home, 'config.yaml');
  }

  private readConfig(home: string): Record<string, unknown> {
    return YAML.parse(fs.readFileSync(this.configFile(home), 'utf8')) as Record<string, unknown>;
  }

  setJoin(id: string, join: boolean): void {
    const cfg = this.readConfig(this.home(id));
    cfg.join = join;
    fs.writeFileSync(this.configFile(this.home(id)), YAML.stringify(cfg));
  }

  joinFlag(id: string): boolean {
    return this.readConfig(this.home(id)).join === true;
  }

  private node(id: string): { address: string } {
    const n = this.cluster.testnet.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  private async admin(args: string[], endpoints: string[], timeoutMs: number): Promise<OperatorResult> {
    const r = await this.cluster.cli(['cluster', ...args, '--timeout', String(timeoutMs), '--admin', this.cluster.testnet.adminDir, '--endpoints', endpoints.join(',')], timeoutMs + 10_000);
    return { code: r.code, output: `${r.stdout}${r.stderr}` };
  }

  private others(id: string): string[] {
    return this.cluster.testnet.nodes.filter((n) => n.id !== id).map((n) => n.address);
  }

  remove(id: string, timeoutMs = 20_000): Promise<OperatorResult> {
    return this.admin(['remove', '--id', id], this.others(id), timeoutMs);
  }

  addLearner(id: string, timeoutMs = 20_000): Promise<OperatorResult> {
    return this.admin(['add-learner', '--id', id, '--address', this.node(id).address], this.others(id), timeoutMs);
  }

  promote(id: string, timeoutMs = 20_000): Promise<OperatorResult> {
    return this.admin(['promote', '--id', id], this.others(id), timeoutMs);
  }

  transferLeader(timeoutMs = 10_000): Promise<OperatorResult> {
    return this.admin(['transfer-leader'], this.cluster.testnet.nodes.map((n) => n.address), timeoutMs);
  }

  tlsFiles(home: string): { cert: string; key: string } {
    return { cert: path.join(home, TESTNET_LAYOUT.tlsDir, TESTNET_LAYOUT.nodeCertFile), key: path.join(home, TESTNET_LAYOUT.tlsDir, TESTNET_LAYOUT.nodeKeyFile) };
  }

  spareHome(id: string, dir: string): string {
    const port = this.sparePorts[this.spareSeq++ % this.sparePorts.length] as number;
    fs.rmSync(dir, { recursive: true, force: true });
    const from = this.home(id);
    const dataDir = path.resolve(this.cluster.dataDir(id));
    // A machine image: everything but the store and the records that go with it.
    fs.cpSync(from, dir, {
      recursive: true,
      filter: (src) => path.resolve(src) !== dataDir && !/(store-high-water|peer-marks)\.json$/.test(src),
    });
    const cfg = this.readConfig(dir);
    cfg.join = true;
    cfg.listen = `127.0.0.1:${port}`;
    delete cfg.metrics;
    if (typeof cfg.dataDir === 'string' && path.isAbsolute(cfg.dataDir)) cfg.dataDir = path.join(dir, 'data');
    cfg.chains = (cfg.chains as Record<string, unknown>[]).map((c) => ({ ...c, validatorAddrs: [] }));
    fs.writeFileSync(this.configFile(dir), YAML.stringify(cfg));
    return dir;
  }

  startSpare(name: string, home: string): SpareProcess {
    const child = this.cluster.startHome(name, home);
    const logFile = path.join(this.cluster.root, `${name}.log`);
    const offset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const exited = new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.once('exit', (code) => resolve(code));
    });
    return {
      exited,
      running: () => child.exitCode === null && child.signalCode === null,
      output: () => readFrom(logFile, offset),
      kill: () => this.cluster.killHome(name),
    };
  }

  logSize(id: string): number {
    const file = this.cluster.logPath(id);
    return fs.existsSync(file) ? fs.statSync(file).size : 0;
  }

  logSince(id: string, offset: number): string {
    return readFrom(this.cluster.logPath(id), offset);
  }
}

function readFrom(file: string, offset: number): string {
  if (!fs.existsSync(file)) return '';
  const buf = fs.readFileSync(file);
  return buf.subarray(Math.min(offset, buf.length)).toString('utf8');
}
