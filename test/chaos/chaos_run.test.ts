// CI's chaos run: three real raft-signer processes for about half a minute under leader kills,
// pauses, partitions, one-way loss and a wiped disk, on a fixed seed. It fails on any safety
// violation; liveness is asserted only loosely (something is signed after every leader kill, and
// most heights are signed while a majority is healthy), because how fast a loaded CI machine
// signs is not what this test is about. Runs the built CLI (npm test builds first).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatSummary } from '../../src/chaos/chaos_report';
import { runChaos } from '../../src/chaos/chaos_run';

/** Node processes started from a chaos run's temporary directory that are still alive. */
function chaosNodeProcesses(): string[] {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return ps.split('\n').filter((l) => / start --home .*raft-signer-chaos-/.test(l));
}

/** A seed whose schedule, with only restore faults, has a restore-lagging episode and then a restore of a copy 4 s old. */
const RESTORE_SEED = 41;

/**
 * A seed whose 45 s schedule with only the operator faults starts with a second disk loss of a
 * rejoined node while the leader is SIGKILLed, then a whole home rolled back, then a start with
 * another node's tls/ and a second process with a node's identity (if time allows).
 */
const OPERATOR_SEED = 1452;
const OPERATOR_KINDS = ['rejoin-misordered', 'rollback-home', 'wipe-rejoined', 'foreign-cert', 'duplicate-identity'] as const;

describe('chaos run of a real 3-node cluster', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-ci-'));
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  test('no safety violation under kills, pauses and partitions; signing resumes after every leader kill', async () => {
    const before = chaosNodeProcesses();
    const events: string[] = [];
    const report = await runChaos({
      nodes: 3,
      chains: 2,
      durationMs: 35_000,
      blockTimeMs: 300,
      seed: 6,
      faults: ['kill-leader', 'kill', 'pause', 'isolate-leader', 'split', 'one-way', 'wipe'],
      outDir: out,
      onEvent: (line) => events.push(line),
    });
    const summary = formatSummary(report);
    // On failure the summary says what went wrong; print it only then.
    if (!report.safety.ok) process.stdout.write(`${summary}\n${events.join('\n')}\n`);

    expect(report.safety.conflicts).toEqual([]);
    expect(report.safety.badSignatures).toEqual([]);
    expect(report.safety.ok).toBe(true);
    expect(report.safety.signaturesChecked).toBeGreaterThan(100);

    // The nemesis really did something, including killing a leader.
    expect(report.faults.length).toBeGreaterThanOrEqual(3);
    expect(report.liveness.leaderKills.length).toBeGreaterThanOrEqual(1);
    // Loose liveness: a signature after every leader kill, and most heights signed with a majority.
    for (const kill of report.liveness.leaderKills) expect(kill.nextSignatureMs).not.toBeNull();
    expect(report.liveness.withMajority.servedPct ?? 0).toBeGreaterThan(50);

    // The report's files, and no node process left behind.
    expect(fs.readFileSync(path.join(out, 'timeline.svg'), 'utf8')).toContain('<svg');
    expect(JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'))).toMatchObject({ tool: 'raft-signer chaos', safety: { ok: true } });
    expect(fs.readdirSync(path.join(out, 'logs')).sort()).toEqual(['node0.log', 'node1.log', 'node2.log']);
    expect(chaosNodeProcesses()).toEqual(before);
  }, 90_000);

  test('restored data directories: each restored node refuses to start and rejoins as a learner; nothing is double-signed', async () => {
    const restoreOut = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-ci-restore-'));
    try {
      const report = await runChaos({
        nodes: 3,
        chains: 1,
        durationMs: 30_000,
        blockTimeMs: 300,
        seed: RESTORE_SEED,
        faults: ['restore', 'restore-lagging'],
        outDir: restoreOut,
      });
      if (!report.safety.ok) process.stdout.write(`${formatSummary(report)}\n`);
      expect(report.safety.conflicts).toEqual([]);
      expect(report.safety.ok).toBe(true);
      // A copy from before entries the node acknowledged is refused, and the node rejoins. (A copy
      // the node has acknowledged nothing since is the store as it is, and starts normally.)
      const restores = report.faults.filter((f) => f.kind === 'restore' || f.kind === 'restore-lagging').map((f) => f.notes.join('; '));
      const refused = restores.filter((notes) => /refused to start with its restored store/.test(notes));
      expect(refused.length).toBeGreaterThanOrEqual(1);
      for (const notes of refused) expect(notes).toMatch(/rejoined as a learner and was promoted/);
      expect(report.liveness.withMajority.servedPct ?? 0).toBeGreaterThan(50);
    } finally {
      fs.rmSync(restoreOut, { recursive: true, force: true });
    }
  }, 90_000);

  test('operator faults: each is refused or kept out as documented, the nodes rejoin, and nothing is double-signed', async () => {
    const before = chaosNodeProcesses();
    const report = await runChaos({ nodes: 3, chains: 1, durationMs: 45_000, blockTimeMs: 300, seed: OPERATOR_SEED, faults: [...OPERATOR_KINDS], outDir: null });
    if (!report.safety.ok || report.unexpectedOutcomes.length > 0) process.stdout.write(`${formatSummary(report)}\n${JSON.stringify(report.faults, null, 2)}\n`);
    expect(report.safety.conflicts).toEqual([]);
    expect(report.safety.badSignatures).toEqual([]);
    expect(report.unexpectedOutcomes).toEqual([]);
    const notesOf = (kind: string): string[] => report.faults.filter((f) => f.kind === kind).map((f) => f.notes.join('; '));

    // (c) The node rejoined before lost its disk again: it started on its new store, the leader
    // was SIGKILLed meanwhile and no leader was elected, then it was re-added.
    const second = notesOf('wipe-rejoined');
    expect(second.length).toBeGreaterThanOrEqual(1);
    for (const notes of second) {
      expect(notes).toMatch(/started on a new store .*without refusing/);
      expect(notes).toMatch(/SIGKILLed for .*: no leader meanwhile/);
      expect(notes).toMatch(/removed, re-added as a learner and promoted/);
    }
    // (b) The whole home put back: refused by a peer, then rejoined as a learner.
    const rollbacks = notesOf('rollback-home');
    expect(rollbacks.length).toBeGreaterThanOrEqual(1);
    for (const notes of rollbacks) {
      expect(notes).toMatch(/refused by node\d \("behind its own past"\)/);
      expect(notes).toMatch(/rejoined as a learner and was promoted/);
    }
    // (d) Whichever of these had time to run.
    for (const notes of notesOf('foreign-cert')) expect(notes).toMatch(/start refused in .*: the certificate is node\d's, not node\d's/);
    for (const notes of notesOf('duplicate-identity')) expect(notes).toMatch(/leader node\d kept term \d+/);
    for (const notes of notesOf('rejoin-misordered')) expect(notes).toMatch(/rejoined as a learner and was promoted/);
    expect(report.skippedFaults).toEqual([]);
    expect(report.liveness.withMajority.servedPct ?? 0).toBeGreaterThan(50);
    expect(chaosNodeProcesses()).toEqual(before);
  }, 120_000);
});
