// One chaos run from start to verdict: stand-ins for every node and chain, a fault proxy on every
// peer link, the signer cluster (real processes unless a test injects another launcher), one
// height driver per chain plus late requests, the nemesis on its seeded schedule, then the
// checker, the report and the files (timeline.svg, results.json, the node logs).
//
// Clean shutdown is part of the job: whatever happens (an error, an abort on Ctrl-C), every child
// process is killed, every paused one with it, every proxy and stand-in closed, and the temporary
// directory removed; an exit handler SIGKILLs the children synchronously should the harness
// itself be on its way out.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ValidatorKey } from '../keys/validator_key';
import { SeededRandom } from '../raft/rng';
import { HeightDriver } from '../standin/height_driver';
import { ValidatorStandin } from '../standin/validator_standin';
import { availabilityLine, buildReport, ChaosReport, ChaosRunSettings } from './chaos_report';
import { checkRun } from './checker';
import { FaultNetwork } from './fault_network';
import { HealthTracker } from './health_tracker';
import { LateRequests } from './late_requests';
import { Nemesis } from './nemesis';
import { FAULT_KINDS, FAULT_NEEDS, FaultKind, planSchedule } from './nemesis_schedule';
import { ProcessSignerLauncher } from './process_signer_launcher';
import { SignerCluster, SignerLauncher } from './signer_launcher';
import { renderTimelineSvg } from './timeline_svg';
import { sleep } from '../util/sleep';

export interface ChaosRunOptions {
  nodes: number;
  chains: number;
  durationMs: number;
  blockTimeMs: number;
  seed: number;
  /** Kinds the nemesis draws from (those the signer cannot take are dropped). */
  faults: readonly FaultKind[];
  /** Where timeline.svg, results.json and logs/ go; null writes nothing. */
  outDir: string | null;
  /** The signer under test (default: real `raft-signer start` processes). */
  launcher?: SignerLauncher;
  /** Probability of a disagreeing stand-in per height (default 0.15). */
  disagreementRate?: number;
  /** Probability of a late request after a height (default 0.25). */
  lateRequestRate?: number;
  /** Quiet time at the end for the cluster to recover (default 3 s, at most a tenth of the run). */
  tailMs?: number;
  /** Privval transport of the stand-ins: unix sockets, tcp with SecretConnection, or one tcp per chain (default). */
  privval?: 'unix' | 'tcp' | 'mixed';
  /** Progress lines ("[12.3 s] f4 SIGKILL leader node1 ..."). */
  onEvent?: (line: string) => void;
  /** Ends the run early (the report says so). */
  signal?: AbortSignal;
  /** Keep the cluster's temporary directory (for debugging). */
  keepFiles?: boolean;
}

export const CHAIN_ID_PREFIX = 'chaos-';

/** Runs the whole thing; resolves with the report (also written to outDir when given). */
export async function runChaos(options: ChaosRunOptions): Promise<ChaosReport> {
  const launcher = options.launcher ?? new ProcessSignerLauncher();
  const n = options.nodes;
  const ids = Array.from({ length: n }, (_, i) => `node${i}`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-signer-chaos-'));
  const t = { zero: Date.now() };
  const event = (line: string): void => options.onEvent?.(`[${((Date.now() - t.zero) / 1000).toFixed(1).padStart(6)} s] ${line}`);

  const standins: ValidatorStandin[] = [];
  let network: FaultNetwork | null = null;
  let cluster: SignerCluster | null = null;
  let nemesis: Nemesis | null = null;
  const drivers: HeightDriver[] = [];
  const lates: LateRequests[] = [];
  let abortedRun = false;
  let probeTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    abortedRun = true;
    nemesis?.abort();
  };
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted === true) onAbort();
  const killOnExit = (): void => cluster?.killAllSync();
  process.on('exit', killOnExit);

  try {
    const chains = Array.from({ length: options.chains }, (_, k) => ({ chainId: `${CHAIN_ID_PREFIX}${k + 1}`, key: ValidatorKey.generate() }));
    const privval = options.privval ?? 'mixed';
    const byChain: ValidatorStandin[][] = [];
    for (const [k, c] of chains.entries()) {
      const row: ValidatorStandin[] = [];
      for (const [i, id] of ids.entries()) {
        const tcp = privval === 'tcp' || (privval === 'mixed' && i === k % n);
        const s = await ValidatorStandin.listen({ address: tcp ? 'tcp://127.0.0.1:0' : `unix://${root}/v${k}-${i}.sock`, name: `${c.chainId}/${id}` });
        standins.push(s);
        row.push(s);
      }
      byChain.push(row);
    }

    network = await FaultNetwork.create(ids, options.seed);
    const net = network;
    cluster = await launcher.launch({
      ids,
      root: path.join(root, 'cluster'),
      chains: chains.map((c, k) => ({ ...c, validatorAddrs: (byChain[k] as ValidatorStandin[]).map((s) => s.address) })),
      peerRoute: (from, to) => net.route(from, to),
    });
    const signerCluster = cluster;
    network.setTargets((id) => signerCluster.listenAddress(id));
    const faults = options.faults.filter((k) => FAULT_NEEDS[k].every((need) => signerCluster.capabilities.has(need)));

    event(`starting ${n} ${launcher.name} nodes`);
    for (const id of ids) await cluster.start(id);
    await waitUntil('every stand-in to have its signer connected', 60_000, () => (standins.every((s) => s.connected) ? true : undefined), () => abortedRun);
    if (cluster.capabilities.has('network')) {
      await waitUntil('a leader', 60_000, async () => ((await signerCluster.status(800)).some((v) => v.role === 'leader') ? true : undefined), () => abortedRun);
    }

    const tailMs = options.tailMs ?? Math.min(3000, options.durationMs / 10);
    const episodes = planSchedule({ seed: options.seed, nodes: n, durationMs: options.durationMs, kinds: faults, tailMs });
    const health = new HealthTracker(ids);
    nemesis = new Nemesis({
      cluster,
      network,
      health,
      episodes,
      backupDir: path.join(root, 'backups'),
      seed: options.seed,
      onEvent: event,
      onFailover: () => {
        for (const late of lates) late.probeAll();
      },
    });
    if (abortedRun) nemesis.abort();

    const lateRate = options.lateRequestRate ?? 0.25;
    for (const [k, c] of chains.entries()) {
      const row = byChain[k] as ValidatorStandin[];
      const late = new LateRequests({ chainId: c.chainId, standins: row, rate: lateRate, seed: (options.seed * 7919 + k) >>> 0 });
      lates.push(late);
      drivers.push(
        new HeightDriver({
          chainId: c.chainId,
          standins: row,
          blockTimeMs: options.blockTimeMs,
          disagreementRate: options.disagreementRate ?? 0.15,
          seed: (options.seed * 31 + k) >>> 0,
          // CometBFT's read deadline on the privval connection.
          requestTimeoutMs: 5000,
          onHeight: (r) => late.onHeight(r),
        }),
      );
    }
    t.zero = Date.now();
    const startedAt = t.zero;
    event(`driving ${chains.length} chain(s) at one block per ${options.blockTimeMs} ms; ${episodes.length} fault episodes planned`);
    for (const d of drivers) d.start();
    // While something is faulted, validator nodes that lag re-ask recent heights (late_requests.ts).
    const probeRandom = new SeededRandom((options.seed ^ 0x2545f491) >>> 0);
    probeTimer = setInterval(() => {
      if (health.anyFault() && probeRandom.chance(lateRate * 2)) probeRandom.pick(lates).probe();
    }, 250);

    await nemesis.run(startedAt + options.durationMs - tailMs);
    event('nemesis done: healing everything');
    if (!abortedRun) await nemesis.healAll();
    await sleep(startedAt + options.durationMs - Date.now(), { signal: options.signal }); // an abort ends it at once
    clearInterval(probeTimer);
    event('stopping the drivers');
    await Promise.all(drivers.map((d) => d.stop()));
    await Promise.all(lates.map((l) => l.stop()));
    const endedAt = Date.now();

    const chainKeys = chains.map((c) => ({ chainId: c.chainId, pubKey: c.key.publicKey }));
    const unhealthy = health.unhealthyIntervals();
    const heights = drivers.flatMap((d) => d.results);
    const verdict = checkRun({
      chains: chainKeys,
      histories: standins.map((s) => s.history),
      heights,
      unhealthy,
      cutOff: health.cutOffIntervals(),
      standinNodes: Object.fromEntries(byChain.flatMap((row) => row.map((s, i) => [s.history.source, ids[i] as string]))),
      leaderKills: nemesis.leaderKills,
      protocolErrors: standins.flatMap((s) => s.protocolErrors.map((error) => ({ standin: s.history.source, error }))),
      startedAt,
      endedAt,
    });
    const settings: ChaosRunSettings = {
      nodes: n,
      chains: options.chains,
      durationMs: options.durationMs,
      blockTimeMs: options.blockTimeMs,
      seed: options.seed,
      faults: [...options.faults],
      disagreementRate: options.disagreementRate ?? 0.15,
      lateRequestRate: lateRate,
    };
    const report = buildReport(
      {
        signer: launcher.name,
        settings,
        startedAt,
        endedAt,
        aborted: abortedRun,
        episodes,
        episodesRun: nemesis.episodesRun,
        windows: nemesis.windows,
        skipped: nemesis.skipped,
        leaderKills: nemesis.leaderKills,
        unhealthy,
        heights,
        verdict,
        late: lates.flatMap((l) => l.results),
        network: network.stats(),
      },
      FAULT_KINDS,
    );

    // Everything stops before the logs are copied, so they are complete.
    await shutDown();
    if (options.outDir !== null) {
      const dir = path.resolve(options.outDir);
      fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
      const logs: string[] = [];
      for (const id of ids) {
        const file = cluster.logFile(id);
        if (file !== null && fs.existsSync(file)) {
          const dest = path.join(dir, 'logs', `${id}.log`);
          fs.copyFileSync(file, dest);
          logs.push(dest);
        }
      }
      const svg = path.join(dir, 'timeline.svg');
      const json = path.join(dir, 'results.json');
      report.files = { dir, svg, json, logs };
      fs.writeFileSync(
        svg,
        renderTimelineSvg({
          title: `raft-signer chaos, seed ${options.seed}: ${report.safety.ok ? 'no safety violation' : `${report.safety.violations} SAFETY VIOLATION(S)`}`,
          subtitle:
            `${n} nodes, ${options.chains} chain(s), ${(report.runMs / 1000).toFixed(0)} s, block time ${options.blockTimeMs} ms, ${report.faults.length} faults; ` +
            `heights signed with a healthy majority ${report.liveness.withMajority.servedPct?.toFixed(2) ?? '-'}% (fully signed ${report.liveness.withMajority.fullySignedPct?.toFixed(2) ?? '-'}%), ` +
            `without one ${report.liveness.withoutMajority.servedPct?.toFixed(2) ?? '-'}%\n${availabilityLine(report.liveness.availability, options.chains > 1)}`,
          startedAt,
          endedAt,
          heights,
          faults: nemesis.windows,
          unhealthy,
          leaderKills: nemesis.leaderKills,
          conflicts: verdict.safety.conflicts.map((c) => ({ height: c.height, at: Math.max(c.first.recordedAt, c.second.recordedAt) })),
        }),
      );
      fs.writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
    }
    return report;
  } finally {
    await shutDown();
    process.off('exit', killOnExit);
    options.signal?.removeEventListener('abort', onAbort);
    if (options.keepFiles !== true) fs.rmSync(root, { recursive: true, force: true });
    else event(`kept the run's files in ${root}`);
  }

  /** Idempotent: stops drivers, closes stand-ins, kills the cluster, closes the proxies. */
  async function shutDown(): Promise<void> {
    if (probeTimer !== undefined) clearInterval(probeTimer);
    nemesis?.abort();
    await Promise.all(drivers.map((d) => d.stop()));
    await Promise.all(lates.map((l) => l.stop()));
    await Promise.all(standins.map((s) => s.close()));
    if (cluster !== null) await cluster.destroy();
    if (network !== null) await network.close();
  }
}

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>, aborted: () => boolean): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (aborted()) return undefined;
    const v = await Promise.resolve(probe()).catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}
