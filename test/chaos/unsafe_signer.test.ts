// The harness finds real bugs: run against a signer that signs locally on each node without the
// log (test/chaos/unsafe_signer.ts), a short chaos run must report a double sign, mark it in the
// timeline and results, and fail the run's safety verdict.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runChaos } from '../../src/chaos/chaos_run';
import { UnsafeLocalSignerLauncher } from './unsafe_signer';

describe('chaos harness against a deliberately unsafe signer', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-unsafe-'));
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  test('reports the double sign within a few seconds', async () => {
    const report = await runChaos({
      nodes: 3,
      chains: 1,
      durationMs: 5000,
      blockTimeMs: 50,
      seed: 11,
      faults: ['kill'],
      outDir: out,
      launcher: new UnsafeLocalSignerLauncher(),
      disagreementRate: 0.5,
      tailMs: 500,
    });
    expect(report.safety.ok).toBe(false);
    expect(report.safety.conflicts.length).toBeGreaterThan(0);
    const c = report.safety.conflicts[0];
    expect(c?.differences).toContain('block id');
    // Both judges agree: the field comparison and the stand-ins' sign-byte comparison.
    expect(c?.foundBy.sort()).toEqual(['fields', 'sign-bytes']);
    // The signatures themselves are valid: the violation is the pair, not a forgery.
    expect(report.safety.badSignatures).toEqual([]);
    expect(report.liveness.all.attempted).toBeGreaterThan(10);

    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { safety: { ok: boolean; violations: number } };
    expect(json.safety.ok).toBe(false);
    expect(json.safety.violations).toBe(report.safety.violations);
    const svg = fs.readFileSync(path.join(out, 'timeline.svg'), 'utf8');
    expect(svg).toContain('SAFETY VIOLATION');
    expect(svg).toContain('double sign at height');
  });
});
