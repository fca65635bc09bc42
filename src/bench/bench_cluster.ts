// A testnet of real `raft-signer start` processes set up for the benchmark: besides the testnet's
// own files, every node serves the same chains, each with its own validator key (one file per
// chain, mode 0600, the same key on every node, as `keys import` would leave it):
//   - chain `lat`: a validator-node stand-in on every node (lat-<i>.sock), for latency, failover
//     and graceful hand-over, one node at a time;
//   - chains `tp-0` ... `tp-<k-1>`: one stand-in each, attached to node j mod n, for throughput.
// Stand-ins speak privval over unix sockets exactly as a CometBFT validator node does, one request
// in flight per connection.

import { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TESTNET_LAYOUT } from '../testnet/testnet';
import { ProcessCluster } from '../harness/process_cluster';
import { ValidatorKey, writePlainValidatorKeyFile } from '../keys/validator_key';
import { ValidatorStandin } from '../standin/validator_standin';
import { TlsPem } from '../transport/grpc_server';
import { ChainSequence } from './chain_sequence';
import { sleep } from '../util/sleep';
import { RaftSignerError } from '../util/errors';

export const LATENCY_CHAIN = 'lat';

/** A node process ended while the benchmark needed it. */
export class NodeExitedError extends RaftSignerError<{ code: 'NODE_EXITED' }> {
  constructor(message: string) {
    super({ code: 'NODE_EXITED' }, message);
    this.name = 'NodeExitedError';
  }
}

export function throughputChain(j: number): string {
  return `tp-${j}`;
}

export interface BenchClusterOptions {
  nodes: number;
  throughputChains: number;
  /** Extra environment of the node processes (e.g. NODE_OPTIONS for --cpu-prof). */
  env?: NodeJS.ProcessEnv;
}

export interface NodeMemory {
  id: string;
  pid: number;
  /** Peak resident set (VmHWM), MiB. */
  peakRssMiB: number;
  /** Resident set now (VmRSS), MiB. */
  rssMiB: number;
}

interface ChainFile {
  chainId: string;
  keyFile: string;
  validatorAddrs: string[];
}

export class BenchCluster {
  /** Node id -> the `lat` stand-in attached to it. */
  readonly latencyStandins = new Map<string, ValidatorStandin>();
  /** tp-j -> its stand-in (attached to node j mod n). */
  readonly throughputStandins: { chainId: string; nodeId: string; standin: ValidatorStandin }[] = [];
  private readonly sequences = new Map<string, ChainSequence>();
  private readonly children = new Map<string, ChildProcess>();

  private constructor(
    readonly cluster: ProcessCluster,
    readonly root: string,
  ) {}

  static async create(options: BenchClusterOptions): Promise<BenchCluster> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-bench-'));
    const n = options.nodes;
    const chainIds = [LATENCY_CHAIN, ...Array.from({ length: options.throughputChains }, (_, j) => throughputChain(j))];
    const keys = new Map(chainIds.map((c) => [c, ValidatorKey.generate()]));
    const socket = (name: string): string => `unix://${root}/${name}.sock`;
    const cluster = await ProcessCluster.create({
      nodes: n,
      root,
      chainId: LATENCY_CHAIN,
      env: options.env,
      configure: (cfg, id) => {
        const i = Number(id.replace(/^node/, ''));
        const home = path.join(root, 'net', id);
        const keyDir = path.join(home, 'chain-keys');
        fs.mkdirSync(keyDir, { recursive: true, mode: 0o700 });
        const chains: ChainFile[] = chainIds.map((chainId, k) => {
          const keyFile = path.join(keyDir, `${chainId}.json`);
          writePlainValidatorKeyFile(keyFile, keys.get(chainId) as ValidatorKey);
          const attached = chainId === LATENCY_CHAIN ? true : (k - 1) % n === i;
          const name = chainId === LATENCY_CHAIN ? `lat-${i}` : chainId;
          return { chainId, keyFile: path.relative(home, keyFile), validatorAddrs: attached ? [socket(name)] : [] };
        });
        cfg.chains = chains;
      },
    });
    const bench = new BenchCluster(cluster, root);
    for (let i = 0; i < n; i++) {
      const standin = await ValidatorStandin.listen({ address: socket(`lat-${i}`), name: `lat-${i}`, recordHistory: false });
      bench.latencyStandins.set(`node${i}`, standin);
    }
    for (let j = 0; j < options.throughputChains; j++) {
      const chainId = throughputChain(j);
      const standin = await ValidatorStandin.listen({ address: socket(chainId), name: chainId, recordHistory: false });
      bench.throughputStandins.push({ chainId, nodeId: `node${j % n}`, standin });
    }
    return bench;
  }

  get ids(): string[] {
    return this.cluster.ids;
  }

  tls(id: string): TlsPem {
    const dir = path.join(this.cluster.home(id), TESTNET_LAYOUT.tlsDir);
    const read = (f: string): string => fs.readFileSync(path.join(dir, f), 'utf8');
    return { ca: read(TESTNET_LAYOUT.tlsCaFile), cert: read(TESTNET_LAYOUT.nodeCertFile), key: read(TESTNET_LAYOUT.nodeKeyFile) };
  }

  /** The request sequence of a chain: heights only go up, whichever phase sends them. */
  sequence(chainId: string): ChainSequence {
    let s = this.sequences.get(chainId);
    if (!s) {
      s = new ChainSequence(chainId);
      this.sequences.set(chainId, s);
    }
    return s;
  }

  start(id: string): void {
    this.children.set(id, this.cluster.start(id));
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  isRunning(id: string): boolean {
    return this.cluster.isRunning(id);
  }

  running(): string[] {
    return this.ids.filter((id) => this.isRunning(id));
  }

  /** Every running node follows one leader and has applied everything committed; stand-ins connected. */
  async waitSettled(timeoutMs = 30_000): Promise<string> {
    const live = this.running();
    const leader = await pollUntil(`a settled cluster (${live.join(', ')})`, timeoutMs, async () => {
      const died = live.filter((id) => !this.isRunning(id));
      if (died.length > 0) throw new NodeExitedError(`${died.join(', ')} exited; see ${died.map((id) => `${this.root}/${id}.log`).join(', ')}`);
      const s = await this.cluster.status(live[0]);
      if (!s.leader || !live.includes(s.leader)) return undefined;
      const lead = s.nodes.find((x) => x.id === s.leader);
      if (!lead || lead.commitIndex === null) return undefined;
      const ok = live.every((id) => {
        const row = s.nodes.find((x) => x.id === id);
        return row !== undefined && row.term === lead.term && row.appliedIndex !== null && row.appliedIndex >= (lead.commitIndex as number);
      });
      return ok ? s.leader : undefined;
    });
    const standins = [
      ...live.map((id) => this.latencyStandins.get(id) as ValidatorStandin),
      ...this.throughputStandins.filter((t) => live.includes(t.nodeId)).map((t) => t.standin),
    ];
    await Promise.all(standins.map((s) => s.waitConnected(timeoutMs)));
    return leader;
  }

  async leader(): Promise<string> {
    return this.cluster.waitForLeader(this.running());
  }

  /** VmHWM and VmRSS of every running node process. */
  memory(): NodeMemory[] {
    const out: NodeMemory[] = [];
    for (const id of this.running()) {
      const pid = this.children.get(id)?.pid;
      if (pid === undefined) continue;
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
      out.push({ id, pid, peakRssMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 });
    }
    return out;
  }

  kill(id: string): Promise<number | null> {
    return this.cluster.kill(id);
  }

  stop(id: string): Promise<number | null> {
    return this.cluster.stop(id);
  }

  /** Stops every node gracefully (so a --cpu-prof profile is written), then removes everything. */
  async destroy(options: { graceful?: boolean; keepFiles?: boolean } = {}): Promise<void> {
    if (options.graceful) await Promise.all(this.running().map((id) => this.cluster.stop(id)));
    await Promise.all([...this.latencyStandins.values(), ...this.throughputStandins.map((t) => t.standin)].map((s) => s.close()));
    await this.cluster.destroy({ keepFiles: options.keepFiles });
  }
}

/** As the harness's waitFor, but a NodeExitedError from the probe ends the wait at once. */
async function pollUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch((e: unknown) => {
      if (e instanceof NodeExitedError) throw e;
      return undefined;
    });
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
