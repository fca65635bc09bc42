// A local cluster of real `raft-signer start` processes made from a fresh `testnet`: what the
// integration tests, the chaos harness, the benchmark and the demo all drive. It starts, kills,
// pauses and restarts node processes, asks for the cluster's status with the testnet's admin
// client certificate, and sends sign requests through any node's Signer service with a voter's
// node certificate (the admin certificate signs nothing).

import { ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { createTestnet, TestnetSummary } from '../testnet/testnet';
import { ClusterStatus, queryClusterStatus } from '../node/cluster_status_query';
import { loadPlainValidatorKeyFile, ValidatorKey } from '../keys/validator_key';
import { clusterChannelCredentials, TlsPem } from '../transport/grpc_server';
import { signThroughNode } from '../transport/signer_client';
import { SignOutcome, SignRequest } from '../cometbft/sign_types';
import { NodeStatusView } from '../transport/admin_views';
import { fetchNodeStatus } from '../transport/admin_client';
import { loadNodeConfig } from '../config/node_config';
import { sleep } from '../util/sleep';

/** The built CLI; both src/harness and dist/harness sit two levels below the repository root. */
export const CLI_ENTRY = path.resolve(__dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface ProcessClusterOptions {
  nodes: number;
  chainId?: string;
  /** Parent directory for the cluster's files (a fresh temporary directory by default). */
  root?: string;
  /** Privval address template ({i} = node index); default unix sockets in the root. */
  validatorAddrTemplate?: string;
  /** Edits each node's config.yaml (parsed) before the first start. */
  configure?: (config: Record<string, unknown>, id: string) => void;
  /** Extra environment for the node processes. */
  env?: NodeJS.ProcessEnv;
}

export class ProcessCluster {
  private readonly procs = new Map<string, ChildProcess>();
  /** Processes started on homes other than the testnet's own (a spare or copied home). */
  private readonly extras = new Map<string, ChildProcess>();
  private readonly logFiles = new Map<string, string>();
  private readonly adminTls: TlsPem;

  private constructor(
    readonly root: string,
    readonly testnet: TestnetSummary,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.adminTls = {
      ca: fs.readFileSync(testnet.adminCaFile, 'utf8'),
      cert: fs.readFileSync(testnet.adminCertFile, 'utf8'),
      key: fs.readFileSync(testnet.adminKeyFile, 'utf8'),
    };
  }

  static async create(options: ProcessClusterOptions): Promise<ProcessCluster> {
    if (!fs.existsSync(CLI_ENTRY)) throw new Error(`${CLI_ENTRY} is missing: run \`npm run build\` first`);
    const root = options.root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'raft-signer-cluster-'));
    const testnet = await createTestnet({
      nodes: options.nodes,
      outDir: path.join(root, 'net'),
      chainId: options.chainId ?? 'test-chain',
      validatorAddrTemplate: options.validatorAddrTemplate ?? `unix://${root}/val{i}.sock`,
      warn: () => undefined,
    });
    if (options.configure) {
      for (const n of testnet.nodes) {
        const cfg = YAML.parse(fs.readFileSync(n.configFile, 'utf8')) as Record<string, unknown>;
        options.configure(cfg, n.id);
        fs.writeFileSync(n.configFile, YAML.stringify(cfg));
      }
    }
    return new ProcessCluster(root, testnet, { ...process.env, ...options.env });
  }

  get ids(): string[] {
    return this.testnet.nodes.map((n) => n.id);
  }

  home(id: string): string {
    const n = this.testnet.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id} in this cluster`);
    return n.home;
  }

  /** The validator key the testnet generated (every node signs with it). */
  validatorKey(): ValidatorKey {
    return loadPlainValidatorKeyFile(this.testnet.validatorKeyFile);
  }

  /** Starts (or restarts) a node's process; its output is appended to its log file. */
  start(id: string): ChildProcess {
    if (this.isRunning(id)) throw new Error(`${id} is already running`);
    const logFile = path.join(this.root, `${id}.log`);
    this.logFiles.set(id, logFile);
    const fd = fs.openSync(logFile, 'a');
    const child = spawn(process.execPath, [CLI_ENTRY, 'start', '--home', this.home(id)], { stdio: ['ignore', fd, fd], env: this.env });
    fs.closeSync(fd);
    this.procs.set(id, child);
    return child;
  }

  /**
   * Starts `raft-signer start` on any home (a spare home, a copy of a node's home), as `name`; its
   * output goes to `<root>/<name>.log`. Such processes are killed with the cluster.
   */
  startHome(name: string, home: string): ChildProcess {
    const old = this.extras.get(name);
    if (old !== undefined && old.exitCode === null && old.signalCode === null) throw new Error(`${name} is already running`);
    const fd = fs.openSync(path.join(this.root, `${name}.log`), 'a');
    const child = spawn(process.execPath, [CLI_ENTRY, 'start', '--home', home], { stdio: ['ignore', fd, fd], env: this.env });
    fs.closeSync(fd);
    this.extras.set(name, child);
    return child;
  }

  /** SIGKILLs a process startHome started and waits for it to be gone. */
  async killHome(name: string): Promise<void> {
    const child = this.extras.get(name);
    if (child === undefined) return;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  }

  startAll(): void {
    for (const id of this.ids) if (!this.isRunning(id)) this.start(id);
  }

  isRunning(id: string): boolean {
    const child = this.procs.get(id);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Sends a signal and, unless it only pauses or resumes, waits for the process to exit. */
  async signal(id: string, signal: NodeJS.Signals): Promise<number | null> {
    const child = this.procs.get(id);
    if (!child || !this.isRunning(id)) return child?.exitCode ?? null;
    child.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return null;
    return exited(child);
  }

  kill(id: string): Promise<number | null> {
    return this.signal(id, 'SIGKILL');
  }

  /** Graceful stop (SIGTERM): a leader hands over first. */
  stop(id: string): Promise<number | null> {
    return this.signal(id, 'SIGTERM');
  }

  log(id: string): string {
    const file = this.logFiles.get(id);
    return file && fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  }

  status(via: string = this.ids[0], deadlineMs = 1500): Promise<ClusterStatus> {
    return queryClusterStatus(this.home(via), deadlineMs);
  }

  /** Waits until every node in `live` answers and agrees on one leader in one term. */
  async waitForLeader(live: string[] = this.ids.filter((id) => this.isRunning(id)), timeoutMs = 20_000): Promise<string> {
    return waitFor(`a leader that ${live.join(', ')} all follow`, timeoutMs, async () => {
      const s = await this.status(live[0]);
      if (!s.leader) return undefined;
      const term = s.nodes.find((n) => n.id === s.leader)?.term;
      const agreed = live.every((id) => s.nodes.find((n) => n.id === id)?.term === term);
      return agreed ? s.leader : undefined;
    });
  }

  /**
   * Sends a sign request to node `via`'s Signer service (the whole sign path, released there),
   * as node `as` (default `via` itself): Sign accepts only a voter's node certificate.
   */
  sign(via: string, request: SignRequest, timeoutMs = 4000, as: string = via): Promise<SignOutcome> {
    const n = this.testnet.nodes.find((x) => x.id === via);
    if (!n) throw new Error(`no node ${via}`);
    return signThroughNode(n.address, clusterChannelCredentials(this.nodeTls(as), via, 'node'), via, request, timeoutMs);
  }

  /** Node `id`'s own TLS material (CA, node certificate and key), read from its home. */
  nodeTls(id: string): TlsPem {
    const tls = loadNodeConfig(this.home(id)).tls;
    return { ca: fs.readFileSync(tls.ca, 'utf8'), cert: fs.readFileSync(tls.cert, 'utf8'), key: fs.readFileSync(tls.key, 'utf8') };
  }

  /** Runs the built CLI (as an operator would) and returns its exit code and output. */
  cli(args: string[], timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI_ENTRY, ...args], { timeout: timeoutMs, env: this.env }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** The file a node's output is appended to (it may not exist before the first start). */
  logPath(id: string): string {
    this.home(id);
    return path.join(this.root, `${id}.log`);
  }

  /** The process id of a node's current process, or null when it is not running. */
  pid(id: string): number | null {
    const child = this.procs.get(id);
    return child !== undefined && this.isRunning(id) ? (child.pid ?? null) : null;
  }

  /** The node's data directory, as its config.yaml resolves it (storage-fault tests wipe or replace it). */
  dataDir(id: string): string {
    return loadNodeConfig(this.home(id)).dataDir;
  }

  /**
   * One node's own status, asked at the address it listens on with the admin client certificate.
   * Unlike status(), which goes through a node's configured peer addresses, this does not depend
   * on those addresses: the chaos harness rewrites them to its fault proxies and must still see
   * every node while the links between them are cut.
   */
  nodeStatus(id: string, deadlineMs = 1000): Promise<NodeStatusView> {
    const n = this.testnet.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id} in this cluster`);
    return fetchNodeStatus(n.address, clusterChannelCredentials(this.adminTls, id, 'client'), id, deadlineMs);
  }

  /**
   * SIGKILLs every process at once, synchronously: for exit and signal handlers, where nothing
   * asynchronous runs any more and a child left behind would outlive its parent.
   */
  killAllSync(): void {
    for (const [id, child] of this.procs) if (this.isRunning(id)) child.kill('SIGKILL');
    for (const child of this.extras.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  /** Kills every process and removes the cluster's files. */
  async destroy(options: { keepFiles?: boolean } = {}): Promise<void> {
    await Promise.all([...this.ids.map((id) => this.kill(id)), ...[...this.extras.keys()].map((name) => this.killHome(name))]);
    for (const [id, child] of this.procs) if (this.isRunning(id)) await exited(child);
    if (!options.keepFiles) fs.rmSync(this.root, { recursive: true, force: true });
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
