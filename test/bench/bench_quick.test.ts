// Smoke test of the benchmark (`npm run bench -- --quick`): it builds a 3-node cluster of real
// processes, runs every measurement once at small size and produces a complete report. No timing
// is asserted here (docs/design.md: performance is measured by `npm run bench`, never by timed
// assertions in tests); only that each part ran, signed, and reported.

import { jsonReport, textReport } from '../../src/bench/report';
import { runBench } from '../../src/bench/cli';

jest.setTimeout(240_000);

test('npm run bench -- --quick measures every part and reports it', async () => {
  const report = await runBench({ quick: true, log: () => undefined });

  expect(report.mode).toBe('quick');
  expect(report.machine.cores).toBeGreaterThan(0);
  for (const part of [report.floor.ed25519Sign, report.floor.fsyncedPut, report.floor.grpcRoundTrip]) {
    expect(part.count).toBeGreaterThan(0);
  }
  expect(report.floor.floorMs).toBeGreaterThan(0);

  expect(report.clusters.map((c) => c.nodes)).toEqual([3]);
  const [cluster] = report.clusters;
  expect(cluster.latency.map((l) => l.role).sort()).toEqual(['follower', 'leader']);
  for (const l of cluster.latency) expect(l.summary.count).toBeGreaterThan(0);
  expect(cluster.throughput.length).toBeGreaterThan(0);
  for (const t of cluster.throughput) expect(t.saturationPerSec).toBeGreaterThan(0);
  expect(cluster.memory).toHaveLength(3);
  for (const m of cluster.memory) expect(m.peakRssMiB).toBeGreaterThan(0);
  expect(cluster.graceful?.trials.length).toBeGreaterThan(0);
  expect(cluster.leaderKill?.trials.length).toBeGreaterThan(0);
  for (const t of cluster.leaderKill?.trials ?? []) expect(Number.isFinite(t.recoveryMs)).toBe(true);

  // Both outputs render: one JSON object, and the tables with the targets.
  const json = JSON.parse(JSON.stringify(jsonReport(report))) as { clusters: unknown[]; targets: unknown[] };
  expect(json.clusters).toHaveLength(1);
  expect(json.targets.length).toBeGreaterThan(0);
  const text = textReport(report);
  expect(text).toMatch(/Floor/);
  expect(text).toMatch(/Targets \(issue 7\)/);
});
