// The nemesis schedule replays from its seed, keeps to the kinds asked for and to the run's
// length, never plans more than a minority of concurrent node faults, and the health tracker
// judges majorities the way Raft needs them.

import { HealthTracker } from '../../src/chaos/health_tracker';
import { FAULT_KINDS, parseFaultKinds, planSchedule } from '../../src/chaos/nemesis_schedule';

describe('nemesis schedule', () => {
  test('the same seed gives the same schedule; another seed another', () => {
    const a = planSchedule({ seed: 42, nodes: 3, durationMs: 600_000 });
    const b = planSchedule({ seed: 42, nodes: 3, durationMs: 600_000 });
    const c = planSchedule({ seed: 43, nodes: 3, durationMs: 600_000 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.length).toBeGreaterThan(20);
  });

  test('a ten-minute schedule draws every kind and fits in the run', () => {
    const episodes = planSchedule({ seed: 3, nodes: 3, durationMs: 600_000, tailMs: 3000 });
    const kinds = new Set(episodes.flatMap((e) => e.faults.map((f) => f.kind)));
    expect([...kinds].sort()).toEqual([...FAULT_KINDS].sort());
    const planned = 2000 + episodes.reduce((s, e) => s + e.gapMs + e.estimatedMs, 0);
    expect(planned).toBeLessThanOrEqual(600_000 - 3000);
    // Three nodes tolerate one failure: one fault at a time.
    expect(episodes.every((e) => e.faults.length === 1)).toBe(true);
  });

  test('only the kinds asked for; with five nodes, sometimes a second concurrent process fault', () => {
    const episodes = planSchedule({ seed: 3, nodes: 5, durationMs: 600_000, kinds: ['kill-leader', 'pause', 'split'] });
    expect(episodes.flatMap((e) => e.faults.map((f) => f.kind)).every((k) => ['kill-leader', 'pause', 'split'].includes(k))).toBe(true);
    const doubles = episodes.filter((e) => e.faults.length === 2);
    expect(doubles.length).toBeGreaterThan(0);
    expect(doubles.every((e) => e.faults.length <= 2 && (e.faults[1]?.kind === 'pause' || e.faults[1]?.kind === 'kill'))).toBe(true);
    const splits = episodes.flatMap((e) => e.faults).filter((f) => f.kind === 'split');
    expect(splits.every((f) => f.kind === 'split' && f.minority.length >= 1 && f.minority.length <= 2)).toBe(true);
  });

  test('with five nodes, a home rolled back is never combined with a fault of the leader', () => {
    // The README's undetectable combination: the peers that saw past the image, the leader
    // first, must stay up; a second fault meanwhile is only ever a follower's.
    const episodes = planSchedule({ seed: 3, nodes: 5, durationMs: 600_000, kinds: ['rollback-home', 'kill', 'pause'] });
    const combined = episodes.filter((e) => e.faults.length === 2 && e.faults[0]?.kind === 'rollback-home');
    expect(combined.length).toBeGreaterThan(0);
    for (const e of combined) expect(e.faults[1]).toMatchObject({ target: { role: 'follower' } });
    // With three nodes, never combined at all.
    expect(planSchedule({ seed: 3, nodes: 3, durationMs: 600_000, kinds: ['rollback-home', 'kill', 'pause'] }).every((e) => e.faults.length === 1)).toBe(true);
  });

  test('no kinds, no faults; --faults parsing', () => {
    expect(planSchedule({ seed: 1, nodes: 3, durationMs: 60_000, kinds: [] })).toEqual([]);
    expect(parseFaultKinds('all')).toEqual([...FAULT_KINDS]);
    expect(parseFaultKinds('none')).toEqual([]);
    expect(parseFaultKinds('kill, pause,kill')).toEqual(['kill', 'pause']);
    expect(() => parseFaultKinds('kill,explode')).toThrow(/unknown fault kind explode/);
  });
});

describe('health tracker', () => {
  test('a healthy majority is a star of unfaulted nodes linked both ways', () => {
    let now = 0;
    const h = new HealthTracker(['a', 'b', 'c'], () => now);
    expect(h.healthyMajority()).toBe(true);
    now = 10;
    h.faultNode('a', 'f1');
    expect(h.healthyMajority()).toBe(true);
    expect(h.isCutOff('a')).toBe(true);
    now = 20;
    h.faultLink('b', 'c', 'f2');
    expect(h.healthyMajority()).toBe(false);
    // b and c still talk to nobody both ways but each other, and that link is cut: both cut off.
    expect(h.isCutOff('b') && h.isCutOff('c')).toBe(true);
    now = 30;
    h.clearNode('a', 'f1');
    // a reaches b and c both ways: a star around a.
    expect(h.healthyMajority()).toBe(true);
    expect(h.isCutOff('b')).toBe(false);
    now = 40;
    h.clearLinks('f2');
    now = 50;
    expect(h.unhealthyIntervals()).toEqual([{ from: 20, to: 30 }]);
    expect(h.cutOffIntervals()).toEqual([
      { node: 'a', from: 10, to: 30 },
      { node: 'b', from: 20, to: 30 },
      { node: 'c', from: 20, to: 30 },
    ]);
  });

  test('isolating one node of three leaves a majority; cutting every node leaves none', () => {
    const h = new HealthTracker(['a', 'b', 'c']);
    for (const o of ['b', 'c']) {
      h.faultLink('a', o, 'iso');
      h.faultLink(o, 'a', 'iso');
    }
    expect(h.healthyMajority()).toBe(true);
    expect(h.isCutOff('a')).toBe(true);
    expect(h.isCutOff('b')).toBe(false);
    h.faultLink('b', 'c', 'all');
    expect(h.healthyMajority()).toBe(false);
    expect(h.unhealthyIntervals()).toHaveLength(1);
  });
});
