// The chaos run's results as one JSON-ready object (what `--json` prints and results.json holds)
// and as the readable summary the command prints otherwise. Times in the report are milliseconds
// since the height drivers started (startedAt gives the wall-clock start), so that the JSON, the
// summary and the timeline picture line up.
//
// Availability over time (liveness.availability; src/standin/availability.ts): heights are driven
// in lockstep (the next height starts only when the last one is done), so a stall shows as fewer
// heights attempted, not as heights unsigned. The report also cuts the run into slots of the block
// time and counts, per chain, the slots a healthy majority lasted throughout and those in which
// one of the chain's validator-node stand-ins obtained a signature for a height the driver asked
// for (late requests re-asking finished heights do not count), and names the longest stall in
// healthy time with the faults active during it.

import type { HeightResult } from '../standin/height_driver';
import { type Availability, combine, complementIntervals, computeAvailability, describeFaults, type FaultRecord } from '../standin/availability';
import type { ChaosVerdict, ConflictReport, RecordSummary, SignatureProblem } from './checker';
import type { HealthInterval } from './health_tracker';
import type { LateRequestResult } from './late_requests';
import { UNEXPECTED, type FaultWindow, type LeaderKill, type SkippedFault } from './nemesis';
import type { Episode, FaultKind } from './nemesis_schedule';

export interface ChaosRunSettings {
  nodes: number;
  chains: number;
  durationMs: number;
  blockTimeMs: number;
  seed: number;
  faults: FaultKind[];
  disagreementRate: number;
  lateRequestRate: number;
}

export interface ReportCounts {
  attempted: number;
  fullySigned: number;
  voted: number;
  served: number;
  fullySignedPct: number | null;
  votedPct: number | null;
  servedPct: number | null;
}

/** Availability over time of one chain's validator, or of all chains summed. */
export interface AvailabilityFigures {
  /** Slots of the block time in which a healthy majority lasted throughout. */
  slots: number;
  /** Of those, the slots in which a stand-in of the chain obtained a signature. */
  servedSlots: number;
  /** servedSlots / slots (0..1); 1 when there was no such slot. */
  ratio: number;
  /**
   * The longest time in healthy-majority time without a signature: its length, when it began
   * (ms since the start: the last signature before it, or the return of a healthy majority), the
   * chain, and the faults active meanwhile (or the last one before it). Null without healthy time.
   */
  longestStall: { ms: number; at: number; chainId: string; cause: string } | null;
}

export interface ReportAvailability extends AvailabilityFigures {
  /** The slot length: the run's block time. */
  slotMs: number;
  perChain: ({ chainId: string } & AvailabilityFigures)[];
}

export interface ChaosReport {
  tool: 'raft-signer chaos';
  /** The signer under test ("raft-signer", or a test's stand-in signer). */
  signer: string;
  settings: ChaosRunSettings;
  /** The command that replays this fault schedule. */
  replay: string;
  startedAt: string;
  runMs: number;
  /** True when the run was interrupted before its end. */
  aborted: boolean;
  schedule: { planned: number; run: number; episodes: Episode[] };
  faults: { id: string; kind: string; label: string; nodes: string[]; startMs: number; endMs: number; notes: string[] }[];
  skippedFaults: { atMs: number; kind: string; why: string }[];
  /**
   * What the nemesis saw the product do that its documentation does not lead to expect (a start
   * that should have been refused and was not, a leader lost to a second process with its
   * identity, a new store that counted): not signatures, so not safety violations by themselves,
   * but findings to read.
   */
  unexpectedOutcomes: { faultId: string; kind: string; note: string }[];
  noHealthyMajority: { startMs: number; endMs: number }[];
  noHealthyMajorityMs: number;
  safety: {
    ok: boolean;
    violations: number;
    signaturesChecked: number;
    conflicts: (Omit<ConflictReport, 'first' | 'second'> & { first: ReportRecord; second: ReportRecord })[];
    badSignatures: (Omit<SignatureProblem, 'record'> & { record: ReportRecord })[];
    protocolErrors: { standin: string; error: string }[];
  };
  liveness: {
    all: ReportCounts;
    withMajority: ReportCounts;
    withoutMajority: ReportCounts;
    perChain: { chainId: string; all: ReportCounts; withMajority: ReportCounts; withoutMajority: ReportCounts }[];
    longestGap: { ms: number; chainId: string; startMs: number; endMs: number } | null;
    /** Availability over time, in slots of the block time while a majority was healthy. */
    availability: ReportAvailability;
    leaderKills: { atMs: number; node: string; faultId?: string; nextSignatureMs: number | null }[];
    failedHeights: { chainId: string; height: string; startMs: number; endMs: number; withMajority: boolean; proposerCutOff: boolean; reasons: string[] }[];
  };
  lateRequests: { sent: number; signed: number; refused: number; error: number; byKind: Record<string, { sent: number; signed: number; refused: number; error: number }> };
  network: { link: string; connections: number; cuts: number; bytesForward: number; bytesBackward: number }[];
  files: { dir: string; svg: string; json: string; logs: string[] } | null;
}

export type ReportRecord = Omit<RecordSummary, 'recordedAt'> & { atMs: number };

export interface ReportInputs {
  signer: string;
  settings: ChaosRunSettings;
  startedAt: number;
  endedAt: number;
  aborted: boolean;
  episodes: readonly Episode[];
  episodesRun: number;
  windows: readonly FaultWindow[];
  skipped: readonly SkippedFault[];
  leaderKills: readonly LeaderKill[];
  unhealthy: readonly HealthInterval[];
  /** Every height the drivers drove (when each stand-in's request got its signature). */
  heights: readonly HeightResult[];
  verdict: ChaosVerdict;
  late: readonly LateRequestResult[];
  network: ChaosReport['network'];
}

export function replayCommand(s: ChaosRunSettings, allKinds: readonly string[]): string {
  const isAll = s.faults.length === allKinds.length && allKinds.every((k) => (s.faults as readonly string[]).includes(k));
  const faults = isAll ? '' : ` --faults ${s.faults.length === 0 ? 'none' : s.faults.join(',')}`;
  return `raft-signer chaos --nodes ${s.nodes} --chains ${s.chains} --duration ${s.durationMs / 1000}s --block-time ${s.blockTimeMs}ms --seed ${s.seed}${faults}`;
}

/** A time in the report's terms (ms since the start) as the summary writes it: "12.35 s". */
function secsAt(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * Availability over time from the heights driven, per chain and summed: the window is the run
 * [0, runMs), the healthy time its parts outside `unhealthy`, a signature's time when its request
 * was answered; all in ms since the start, faults too (their `what` names the cause).
 */
export function chaosAvailability(input: {
  runMs: number;
  slotMs: number;
  /** Signatures obtained, per chain, in ms since the start. */
  signedAt: readonly { chainId: string; times: readonly number[] }[];
  unhealthy: readonly { startMs: number; endMs: number }[];
  faults: readonly FaultRecord[];
}): ReportAvailability {
  const window = { start: 0, end: Math.max(0, input.runMs) };
  const healthy = complementIntervals(
    input.unhealthy.map((u) => ({ start: u.startMs, end: u.endMs })),
    window,
  );
  const figures = (a: Availability, chainId: string): AvailabilityFigures => ({
    slots: a.slots,
    servedSlots: a.servedSlots,
    ratio: a.ratio,
    longestStall:
      a.longestStall === null
        ? null
        : { ms: a.longestStall.lengthMs, at: a.longestStall.start, chainId, cause: describeFaults(input.faults, a.longestStall.start, a.longestStall.end, 3, secsAt) },
  });
  const chainIds = input.signedAt.map((c) => c.chainId);
  const parts = input.signedAt.map((c) => computeAvailability({ signedAt: c.times, healthy, slotMs: input.slotMs, window }));
  const all = combine(parts);
  return {
    slotMs: input.slotMs,
    ...figures(all, chainIds[all.longestIn] ?? ''),
    perChain: parts.map((a, i) => ({ chainId: chainIds[i] as string, ...figures(a, chainIds[i] as string) })),
  };
}

/** When each chain's stand-ins obtained a signature for the heights driven, in ms since t0 (chains in order of first height). */
function signaturesByChain(heights: readonly HeightResult[], t0: number): { chainId: string; times: number[] }[] {
  const byChain = new Map<string, number[]>();
  for (const h of heights) {
    let times = byChain.get(h.chainId);
    if (times === undefined) byChain.set(h.chainId, (times = []));
    for (const r of h.requests) if (r.outcome === 'signed') times.push(r.startedAt + r.latencyMs - t0);
  }
  return [...byChain].map(([chainId, times]) => ({ chainId, times }));
}

export function buildReport(inputs: ReportInputs, allKinds: readonly string[]): ChaosReport {
  const t0 = inputs.startedAt;
  const rel = (t: number): number => t - t0;
  const record = (r: RecordSummary): ReportRecord => {
    const { recordedAt, ...rest } = r;
    return { ...rest, atMs: rel(recordedAt) };
  };
  const { safety, liveness } = inputs.verdict;
  const late = inputs.late;
  const runMs = inputs.endedAt - t0;
  const noHealthyMajority = inputs.unhealthy.map((u) => ({ startMs: rel(u.from), endMs: rel(u.to) }));
  const availability = chaosAvailability({
    runMs,
    slotMs: inputs.settings.blockTimeMs,
    signedAt: signaturesByChain(inputs.heights, t0),
    unhealthy: noHealthyMajority,
    faults: inputs.windows.map((w) => ({ start: rel(w.startedAt), end: rel(w.endedAt), what: `${w.id} ${w.kind}: ${w.label}` })),
  });
  const byKind: ChaosReport['lateRequests']['byKind'] = {};
  for (const r of late) {
    const k = (byKind[r.kind] ??= { sent: 0, signed: 0, refused: 0, error: 0 });
    k.sent++;
    k[r.outcome]++;
  }
  return {
    tool: 'raft-signer chaos',
    signer: inputs.signer,
    settings: inputs.settings,
    replay: replayCommand(inputs.settings, allKinds),
    startedAt: new Date(t0).toISOString(),
    runMs,
    aborted: inputs.aborted,
    schedule: { planned: inputs.episodes.length, run: inputs.episodesRun, episodes: [...inputs.episodes] },
    faults: inputs.windows.map((w) => ({ id: w.id, kind: w.kind, label: w.label, nodes: w.nodes, startMs: rel(w.startedAt), endMs: rel(w.endedAt), notes: w.notes })),
    skippedFaults: inputs.skipped.map((s) => ({ atMs: rel(s.at), kind: s.spec.kind, why: s.why })),
    unexpectedOutcomes: inputs.windows.flatMap((w) => w.notes.filter((n) => n.startsWith(UNEXPECTED)).map((note) => ({ faultId: w.id, kind: w.kind, note }))),
    noHealthyMajority,
    noHealthyMajorityMs: inputs.unhealthy.reduce((s, u) => s + (u.to - u.from), 0),
    safety: {
      ok: safety.ok,
      violations: safety.violations,
      signaturesChecked: safety.signaturesChecked,
      conflicts: safety.conflicts.map((c) => ({ ...c, first: record(c.first), second: record(c.second) })),
      badSignatures: safety.badSignatures.map((b) => ({ ...b, record: record(b.record) })),
      protocolErrors: safety.protocolErrors,
    },
    liveness: {
      all: liveness.all,
      withMajority: liveness.withMajority,
      withoutMajority: liveness.withoutMajority,
      perChain: liveness.perChain,
      longestGap: liveness.longestGap === null ? null : { ms: liveness.longestGap.ms, chainId: liveness.longestGap.chainId, startMs: rel(liveness.longestGap.from), endMs: rel(liveness.longestGap.to) },
      availability,
      leaderKills: liveness.leaderKills.map((k) => ({ atMs: rel(k.at), node: k.node, ...(k.faultId !== undefined ? { faultId: k.faultId } : {}), nextSignatureMs: k.nextSignatureMs })),
      failedHeights: liveness.failedHeights.map((h) => ({ chainId: h.chainId, height: h.height, startMs: rel(h.startedAt), endMs: rel(h.finishedAt), withMajority: h.withMajority, proposerCutOff: h.proposerCutOff, reasons: h.reasons })),
    },
    lateRequests: {
      sent: late.length,
      signed: late.filter((r) => r.outcome === 'signed').length,
      refused: late.filter((r) => r.outcome === 'refused').length,
      error: late.filter((r) => r.outcome === 'error').length,
      byKind,
    },
    network: inputs.network,
    files: null,
  };
}

function pct(x: number | null): string {
  return x === null ? '-' : `${x.toFixed(x === 100 ? 0 : 2)}%`;
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/**
 * "availability 97.30% of 1000 ms slots with a healthy majority (360 of 370); longest stall
 * 2.10 s at t=12.35 s: f4 kill-leader: SIGKILL leader node1, 2.0 s down"; `chains` adds the
 * stall's chain.
 */
export function availabilityLine(a: AvailabilityFigures & { slotMs: number }, chains = false): string {
  const share =
    a.slots === 0
      ? `availability: no whole ${a.slotMs} ms slot with a healthy majority`
      : `availability ${(100 * a.ratio).toFixed(2)}% of ${a.slotMs} ms slots with a healthy majority (${a.servedSlots} of ${a.slots})`;
  const s = a.longestStall;
  return s === null ? share : `${share}; longest stall ${secs(s.ms)} at t=${secsAt(s.at)}${chains && s.chainId !== '' ? ` (${s.chainId})` : ''}: ${s.cause}`;
}

function countLine(what: string, c: ReportCounts): string {
  return (
    `${what}: ${c.served} of ${c.attempted} heights signed (${pct(c.servedPct)}); ` +
    `${c.fullySigned} fully signed (${pct(c.fullySignedPct)}), ${c.voted} voted (${pct(c.votedPct)})`
  );
}

/** The summary the command prints without --json. */
export function formatSummary(r: ChaosReport): string {
  const s = r.settings;
  const lines: string[] = [];
  lines.push(
    `raft-signer chaos against ${r.signer}: ${s.nodes} nodes, ${s.chains} chain${s.chains === 1 ? '' : 's'}, ${secs(r.runMs)}, block time ${s.blockTimeMs} ms, seed ${s.seed}${r.aborted ? ' (INTERRUPTED)' : ''}`,
  );
  const kinds = new Map<string, number>();
  for (const f of r.faults) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
  lines.push(
    `faults: ${r.faults.length} injected${kinds.size > 0 ? ` (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}` +
      `${r.skippedFaults.length > 0 ? `, ${r.skippedFaults.length} skipped` : ''}; no healthy majority for ${secs(r.noHealthyMajorityMs)} in all`,
  );
  if (r.unexpectedOutcomes.length > 0) {
    lines.push(`UNEXPECTED OUTCOMES of faults: ${r.unexpectedOutcomes.length}`);
    for (const u of r.unexpectedOutcomes.slice(0, 10)) lines.push(`  ${u.faultId} ${u.kind}: ${u.note.slice(UNEXPECTED.length).trim()}`);
  }
  lines.push('');
  const sf = r.safety;
  lines.push(
    sf.ok
      ? `SAFETY OK: ${sf.signaturesChecked} signatures checked, none conflicting, all verify`
      : `SAFETY VIOLATED: ${sf.conflicts.length} conflicting pair${sf.conflicts.length === 1 ? '' : 's'}, ${sf.badSignatures.length} signature${sf.badSignatures.length === 1 ? '' : 's'} that do not verify (of ${sf.signaturesChecked})`,
  );
  for (const c of sf.conflicts.slice(0, 10)) {
    lines.push(
      `  double sign: chain ${c.chainId} height ${c.height} round ${c.round} ${c.step}: ${c.differences.join(', ')} differ — ` +
        `${c.first.source} got ${c.first.block.slice(0, 12)} at ${secs(c.first.atMs)}, ${c.second.source} got ${c.second.block.slice(0, 12)} at ${secs(c.second.atMs)}`,
    );
  }
  for (const b of sf.badSignatures.slice(0, 10)) lines.push(`  bad signature: chain ${b.chainId} ${b.height}/${b.round}/${b.step} from ${b.record.source}: ${b.problem}`);
  if (sf.protocolErrors.length > 0) lines.push(`  ${sf.protocolErrors.length} protocol error(s) seen by the stand-ins, first: ${sf.protocolErrors[0]?.standin}: ${sf.protocolErrors[0]?.error}`);
  lines.push('');
  const l = r.liveness;
  lines.push('liveness (signed: prevote and precommit signed, and the proposal unless its own node was cut off; fully signed: all three):');
  lines.push(`  ${countLine('all', l.all)}`);
  lines.push(`  ${countLine('with a healthy majority', l.withMajority)}`);
  lines.push(`  ${countLine('without one', l.withoutMajority)}`);
  if (l.perChain.length > 1) for (const c of l.perChain) lines.push(`  ${countLine(c.chainId, c.all)}`);
  lines.push(`  ${availabilityLine(l.availability, l.availability.perChain.length > 1)}`);
  if (l.availability.perChain.length > 1) for (const c of l.availability.perChain) lines.push(`    ${c.chainId}: ${availabilityLine({ ...c, slotMs: l.availability.slotMs })}`);
  if (l.longestGap !== null) lines.push(`  longest gap without a signature: ${secs(l.longestGap.ms)} (${l.longestGap.chainId}, ${secs(l.longestGap.startMs)} to ${secs(l.longestGap.endMs)})`);
  if (l.leaderKills.length > 0) {
    const times = l.leaderKills.map((k) => k.nextSignatureMs).filter((x): x is number => x !== null).sort((a, b) => a - b);
    const median = times.length > 0 ? (times[Math.floor(times.length / 2)] as number) : null;
    lines.push(
      `  leader kill → next signature: ${l.leaderKills.map((k) => (k.nextSignatureMs === null ? 'none' : secs(k.nextSignatureMs))).join(', ')}` +
        (median !== null ? ` (median ${secs(median)}, max ${secs(times[times.length - 1] as number)})` : ''),
    );
  }
  const lr = r.lateRequests;
  if (lr.sent > 0) {
    const repeats = lr.byKind['repeat-precommit'];
    const conflicting = { sent: lr.sent - (repeats?.sent ?? 0), signed: lr.signed - (repeats?.signed ?? 0), refused: lr.refused - (repeats?.refused ?? 0) };
    lines.push(
      `late requests (a lagging validator node re-asking a finished height): ${conflicting.sent} conflicting (${conflicting.refused} refused, ${conflicting.signed} signed where nothing else was; ` +
        `a signature conflicting with an earlier one would be a violation above), ${repeats?.sent ?? 0} repeats with a new timestamp (${repeats?.signed ?? 0} answered with the stored signature); ${lr.error} unanswered`,
    );
  }
  if (r.files !== null) {
    lines.push('');
    lines.push(`timeline: ${r.files.svg}`);
    lines.push(`results:  ${r.files.json}`);
    lines.push(`logs:     ${r.files.logs.length > 0 ? `${r.files.logs.length} files in ${r.files.dir}/logs` : 'none'}`);
  }
  lines.push(`replay:   ${r.replay}`);
  return lines.join('\n') + '\n';
}
