// The chaos command's pieces that need no cluster: duration parsing and option checks, the
// readable summary, availability over time from hand-built heights, and the timeline picture
// (fault bands labelled and escaped, double signs marked).

import { parseDuration } from '../../src/cli/chaos_command';
import { runCli } from '../../src/cli/main';
import { availabilityLine, buildReport, chaosAvailability, formatSummary } from '../../src/chaos/chaos_report';
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

/** A height with one request, answered at t0 + atMs (signed unless said otherwise). */
function answeredAt(atMs: number, outcome: 'signed' | 'refused' | 'error' = 'signed', chainId = 'chaos-1'): HeightResult {
  return {
    chainId,
    height: BigInt(atMs),
    startedAt: t0 + atMs - 30,
    finishedAt: t0 + atMs,
    fullySigned: false,
    requests: [{ standin: `${chainId}/node0`, step: 'prevote', choice: 'block', outcome, startedAt: t0 + atMs - 30, latencyMs: 30 }],
  };
}

// Signatures at 500, 1500, ... 59500 ms, except: none from 4500 until 7600 (during f1, with a
// healthy majority), and none from 19500 until 23500 around the 2 s without a healthy majority
// [20000, 22000). Requests answered without a signature in the stall (a refusal, an error) do
// not count.
const availabilityHeights: HeightResult[] = [
  ...Array.from({ length: 60 }, (_, k) => k)
    .filter((k) => ![5, 6, 7, 20, 21, 22].includes(k))
    .map((k) => answeredAt(k * 1000 + 500)),
  answeredAt(7600),
  answeredAt(5500, 'refused'),
  answeredAt(6500, 'error'),
];

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
      heights: availabilityHeights,
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

  test('availability over time: slots of the block time with a healthy majority, the longest stall in healthy time and its fault', () => {
    // 60 slots of 1 s; [20000, 22000) unhealthy leaves 58 owed. Unserved: 5 and 6 (the stall; 7600
    // serves slot 7) and 22 ([22000, 23000): the majority is back, no signature until 23500).
    // The signature gap 19500-23500 (4 s) spans the unhealthy time, so it counts as 0.5 s and
    // 1.5 s; the longest stall is 4500-7600, during f1.
    const a = report.liveness.availability;
    expect(a).toMatchObject({ slotMs: 1000, slots: 58, servedSlots: 55 });
    expect(a.ratio).toBeCloseTo(55 / 58, 12);
    expect(a.longestStall).toEqual({ ms: 3100, at: 4500, chainId: 'chaos-1', cause: 'f1 kill-leader: SIGKILL leader node1 <&>' });
    expect(a.perChain).toEqual([{ chainId: 'chaos-1', slots: 58, servedSlots: 55, ratio: a.ratio, longestStall: a.longestStall }]);
    // Next to, not instead of, the heights signed.
    const text = formatSummary(report);
    expect(text).toContain(
      'availability 94.83% of 1000 ms slots with a healthy majority (55 of 58); longest stall 3.10 s at t=4.50 s: f1 kill-leader: SIGKILL leader node1 <&>',
    );
    expect(text.indexOf('with a healthy majority: 2 of 3 heights signed')).toBeLessThan(text.indexOf('availability 94.83%'));
  });

  test('availability per chain, summed; a stall without an active fault names the last one; no healthy slot owes nothing', () => {
    const faults = [{ start: 1000, end: 3000, what: 'f1 pause: SIGSTOP node2 2.0 s' }];
    const a = chaosAvailability({
      runMs: 10_000,
      slotMs: 1000,
      signedAt: [
        // Every slot served; longest gap 1000 ms.
        { chainId: 'chaos-1', times: [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000] },
        // Nothing from 3500 until 8200: slots 4 to 7 unserved, a 4.7 s stall after f1 ended.
        { chainId: 'chaos-2', times: [500, 1500, 2500, 3500, 8200, 9100] },
      ],
      unhealthy: [],
      faults,
    });
    expect(a.perChain.map((c) => [c.chainId, c.slots, c.servedSlots])).toEqual([
      ['chaos-1', 10, 10],
      ['chaos-2', 10, 6],
    ]);
    expect(a).toMatchObject({ slotMs: 1000, slots: 20, servedSlots: 16, ratio: 0.8 });
    expect(a.longestStall).toEqual({ ms: 4700, at: 3500, chainId: 'chaos-2', cause: 'no fault active (last: f1 pause: SIGSTOP node2 2.0 s, ended t=3.00 s)' });
    expect(availabilityLine(a, true)).toBe(
      'availability 80.00% of 1000 ms slots with a healthy majority (16 of 20); longest stall 4.70 s at t=3.50 s (chaos-2): no fault active (last: f1 pause: SIGSTOP node2 2.0 s, ended t=3.00 s)',
    );

    // No healthy majority at all: no slot owed, no stall.
    const none = chaosAvailability({ runMs: 5000, slotMs: 1000, signedAt: [{ chainId: 'chaos-1', times: [] }], unhealthy: [{ startMs: 0, endMs: 5000 }], faults });
    expect(none).toMatchObject({ slots: 0, servedSlots: 0, ratio: 1, longestStall: null });
    expect(availabilityLine(none)).toBe('availability: no whole 1000 ms slot with a healthy majority');
  });

  test('the timeline draws fault bands with escaped labels, the heights and any double sign', () => {
    const svg = renderTimelineSvg({
      title: 'seed 9',
      subtitle: 'heights signed ...\navailability 94.83% <of>',
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
    // A subtitle of two lines, one text each.
    expect(svg).toContain('<text x="70" y="36" font-size="12" fill="#333">heights signed ...</text>');
    expect(svg).toContain('<text x="70" y="52" font-size="12" fill="#333">availability 94.83% &lt;of&gt;</text>');
  });
});
