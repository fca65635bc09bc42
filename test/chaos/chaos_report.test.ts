// The chaos command's pieces that need no cluster: duration parsing and option checks, the
// readable summary, and the timeline picture (fault bands labelled and escaped, double signs
// marked).

import { parseDuration } from '../../src/cli/chaos_command';
import { runCli } from '../../src/cli/main';
import { buildReport, formatSummary } from '../../src/chaos/chaos_report';
import { FAULT_KINDS } from '../../src/chaos/nemesis_schedule';
import { renderTimelineSvg } from '../../src/chaos/timeline_svg';
import { HeightResult } from '../../src/standin/height_driver';

describe('chaos command options', () => {
  test('durations', () => {
    expect(parseDuration('60s')).toBe(60_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2')).toBe(2000);
    for (const bad of ['', 'ten', '5x', '1m 30s', '-3s']) expect(() => parseDuration(bad)).toThrow(/duration/);
  });

  test('a bad --nodes or --faults is a usage error (exit 2)', async () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(['node', 'raft-signer', 'chaos', '--nodes', '4'])).toBe(2);
      expect(await runCli(['node', 'raft-signer', 'chaos', '--faults', 'kill,meteor'])).toBe(2);
      expect(await runCli(['node', 'raft-signer', 'chaos', '--duration', '1s'])).toBe(2);
    } finally {
      write.mockRestore();
    }
  });
});

const t0 = 1_700_000_000_000;

function heightAt(h: number, at: number, signed: boolean): HeightResult {
  return {
    chainId: 'chaos-1',
    height: BigInt(h),
    startedAt: at - 200,
    finishedAt: at,
    fullySigned: signed,
    requests: (['proposal', 'prevote', 'precommit'] as const).map((step) => ({
      standin: 'chaos-1/node0',
      step,
      choice: 'block' as const,
      outcome: signed ? ('signed' as const) : ('error' as const),
      startedAt: at - 200,
      latencyMs: 10,
    })),
  };
}

describe('chaos report and timeline', () => {
  const counts = { attempted: 3, fullySigned: 2, voted: 2, served: 2, fullySignedPct: 66.7, votedPct: 66.7, servedPct: 66.7 };
  const report = buildReport(
    {
      signer: 'raft-signer',
      settings: { nodes: 3, chains: 1, durationMs: 60_000, blockTimeMs: 1000, seed: 9, faults: [...FAULT_KINDS], disagreementRate: 0.15, lateRequestRate: 0.25 },
      startedAt: t0,
      endedAt: t0 + 60_000,
      aborted: false,
      episodes: [],
      episodesRun: 1,
      windows: [{ id: 'f1', kind: 'kill-leader', label: 'SIGKILL leader node1 <&>', nodes: ['node1'], startedAt: t0 + 5000, endedAt: t0 + 8000, spec: null, notes: ['node1 caught up in 1.0 s'] }],
      skipped: [],
      leaderKills: [{ at: t0 + 5000, node: 'node1', faultId: 'f1', kind: 'kill-leader' }],
      unhealthy: [{ from: t0 + 20_000, to: t0 + 22_000 }],
      verdict: {
        safety: { ok: true, violations: 0, signaturesChecked: 9, conflicts: [], badSignatures: [], protocolErrors: [] },
        liveness: {
          all: counts,
          withMajority: counts,
          withoutMajority: { ...counts, attempted: 0, fullySigned: 0, voted: 0, served: 0, fullySignedPct: null, votedPct: null, servedPct: null },
          perChain: [],
          longestGap: { ms: 4000, chainId: 'chaos-1', from: t0 + 5000, to: t0 + 9000 },
          leaderKills: [{ at: t0 + 5000, node: 'node1', faultId: 'f1', nextSignatureMs: 700 }],
          failedHeights: [],
        },
      },
      late: [],
      network: [],
    },
    FAULT_KINDS,
  );

  test('times are relative to the start; the summary says what matters', () => {
    expect(report.faults[0]).toMatchObject({ startMs: 5000, endMs: 8000 });
    expect(report.noHealthyMajority).toEqual([{ startMs: 20_000, endMs: 22_000 }]);
    expect(report.liveness.leaderKills[0]).toMatchObject({ atMs: 5000, nextSignatureMs: 700 });
    expect(report.replay).toBe('raft-signer chaos --nodes 3 --chains 1 --duration 60s --block-time 1000ms --seed 9');
    const text = formatSummary(report);
    expect(text).toMatch(/SAFETY OK: 9 signatures checked/);
    expect(text).toMatch(/with a healthy majority: 2 of 3 heights signed/);
    expect(text).toMatch(/leader kill → next signature: 0\.70 s/);
    expect(text).toMatch(/no healthy majority for 2\.00 s/);
  });

  test('the timeline draws fault bands with escaped labels, the heights and any double sign', () => {
    const svg = renderTimelineSvg({
      title: 'seed 9',
      startedAt: t0,
      endedAt: t0 + 60_000,
      heights: [heightAt(1, t0 + 1000, true), heightAt(2, t0 + 6000, false), heightAt(3, t0 + 9000, true)],
      faults: [{ id: 'f1', kind: 'kill-leader', label: 'SIGKILL leader node1 <&>', startedAt: t0 + 5000, endedAt: t0 + 8000 }],
      unhealthy: [{ from: t0 + 20_000, to: t0 + 22_000 }],
      leaderKills: [{ at: t0 + 5000, node: 'node1' }],
      conflicts: [{ height: '3', at: t0 + 9000 }],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('f1 SIGKILL leader node1 &lt;&amp;&gt;');
    expect(svg).not.toContain('<&>');
    expect(svg.match(/<circle /g)?.length).toBeGreaterThanOrEqual(3);
    expect(svg).toContain('double sign at height 3');
    expect(svg).toContain('url(#nomajority)');
  });
});
