// Availability over time (src/standin/availability.ts), on hand-computed cases.

import { combine, complementIntervals, computeAvailability, describeFaults, normalizeIntervals } from '../../src/standin/availability';

const window = { start: 0, end: 1000 };
const always = [{ start: 0, end: 1000 }];

describe('computeAvailability', () => {
  test('empty input: no signature, no healthy time', () => {
    expect(computeAvailability({ signedAt: [], healthy: [], slotMs: 100, window })).toEqual({ slots: 0, servedSlots: 0, ratio: 1, longestStall: null });
  });

  test('healthy throughout but nothing signed: every slot unserved, the whole window one stall', () => {
    expect(computeAvailability({ signedAt: [], healthy: always, slotMs: 100, window })).toEqual({
      slots: 10,
      servedSlots: 0,
      ratio: 0,
      longestStall: { start: 0, end: 1000, lengthMs: 1000 },
    });
  });

  test('a signature in every slot: all served; the longest stall is the longest gap', () => {
    // Gaps: 0-50, 50-150, ..., 850-950 (100 each), 950-1000 (50); the first 100 is 50-150.
    const signedAt = [50, 150, 250, 350, 450, 550, 650, 750, 850, 950];
    expect(computeAvailability({ signedAt, healthy: always, slotMs: 100, window })).toEqual({
      slots: 10,
      servedSlots: 10,
      ratio: 1,
      longestStall: { start: 50, end: 150, lengthMs: 100 },
    });
  });

  test('a stall in the middle: slots 3-6 unserved, the stall from the last signature before to the first after', () => {
    // Signed in slots 0, 1, 2 (at 250), then nothing until 720 (slot 7), 810, 910.
    const signedAt = [10, 110, 250, 720, 810, 910];
    const r = computeAvailability({ signedAt, healthy: always, slotMs: 100, window });
    expect(r.slots).toBe(10);
    expect(r.servedSlots).toBe(6);
    expect(r.ratio).toBeCloseTo(0.6, 12);
    expect(r.longestStall).toEqual({ start: 250, end: 720, lengthMs: 470 });
  });

  test('a stall overlapping an unhealthy interval: the unhealthy time and its slots do not count', () => {
    // Unhealthy [300, 600): slots 3, 4, 5 are not owed. Signed at 250, then at 800.
    // Healthy time without a signature: 250-300 (50) and 600-800 (200), not 250-800.
    const signedAt = [50, 150, 250, 800, 900];
    const healthy = [{ start: 0, end: 300 }, { start: 600, end: 1000 }];
    const r = computeAvailability({ signedAt, healthy, slotMs: 100, window });
    expect(r.slots).toBe(7);
    // Slots 0, 1, 2, 8, 9 served; 6 and 7 not.
    expect(r.servedSlots).toBe(5);
    expect(r.ratio).toBeCloseTo(5 / 7, 12);
    expect(r.longestStall).toEqual({ start: 600, end: 800, lengthMs: 200 });
  });

  test('a slot only partly healthy is not counted, even if a signature fell in it', () => {
    // Healthy [0, 450) and [550, 1000): slot 4 [400, 500) is healthy only at its start, slot 5
    // [500, 600) only at its end; 8 whole slots. The signatures at 420 and 560 fall in those two.
    const healthy = [{ start: 0, end: 450 }, { start: 550, end: 1000 }];
    const r = computeAvailability({ signedAt: [50, 150, 250, 350, 420, 560, 650, 750, 850, 950], healthy, slotMs: 100, window });
    expect(r.slots).toBe(8);
    expect(r.servedSlots).toBe(8);
    // Gaps: 0-50, 50-150 (100, the first of the longest), ..., 420-450 | 550-560, 560-650, ... 950-1000.
    expect(r.longestStall).toEqual({ start: 50, end: 150, lengthMs: 100 });
  });

  test('overlapping and touching healthy intervals are one', () => {
    const healthy = [{ start: 500, end: 1000 }, { start: 0, end: 300 }, { start: 200, end: 500 }];
    const r = computeAvailability({ signedAt: [100, 900], healthy, slotMs: 100, window });
    expect(r.slots).toBe(10);
    expect(r.servedSlots).toBe(2);
    expect(r.longestStall).toEqual({ start: 100, end: 900, lengthMs: 800 });
  });

  test('window edges: slots start at the window start, a trailing partial slot and signatures outside do not count', () => {
    // Window [1000, 1350) with 100ms slots: slots [1000,1100), [1100,1200), [1200,1300); [1300,1350) is partial.
    // Signatures at 999 (before) and 1350 (the end is excluded) are outside; 1300 is in the partial slot.
    const r = computeAvailability({
      signedAt: [999, 1000, 1199, 1300, 1350],
      healthy: [{ start: 0, end: 5000 }],
      slotMs: 100,
      window: { start: 1000, end: 1350 },
    });
    expect(r.slots).toBe(3);
    // 1000 in slot 0, 1199 in slot 1 (end exclusive: 1200 would be slot 2), slot 2 unserved.
    expect(r.servedSlots).toBe(2);
    // Gaps inside the window: 1000-1000, 1000-1199, 1199-1300, 1300-1350.
    expect(r.longestStall).toEqual({ start: 1000, end: 1199, lengthMs: 199 });
  });

  test('a stall running into the end of the window ends there', () => {
    const r = computeAvailability({ signedAt: [100], healthy: [{ start: 0, end: 2000 }], slotMs: 100, window });
    expect(r.longestStall).toEqual({ start: 100, end: 1000, lengthMs: 900 });
  });

  test('rejects a slot that is not positive and a window that ends before it starts', () => {
    expect(() => computeAvailability({ signedAt: [], healthy: always, slotMs: 0, window })).toThrow(RangeError);
    expect(() => computeAvailability({ signedAt: [], healthy: always, slotMs: 100, window: { start: 10, end: 5 } })).toThrow(RangeError);
  });
});

describe('normalizeIntervals', () => {
  test('clips, sorts, merges and drops empty intervals', () => {
    expect(normalizeIntervals([{ start: 900, end: 1200 }, { start: -50, end: 10 }, { start: 5, end: 20 }, { start: 400, end: 400 }], window)).toEqual([
      { start: 0, end: 20 },
      { start: 900, end: 1000 },
    ]);
  });
});

describe('complementIntervals', () => {
  test('the window minus the intervals: gaps between them and at either edge', () => {
    expect(complementIntervals([{ start: 600, end: 700 }, { start: 200, end: 300 }, { start: 250, end: 400 }], window)).toEqual([
      { start: 0, end: 200 },
      { start: 400, end: 600 },
      { start: 700, end: 1000 },
    ]);
    expect(complementIntervals([], window)).toEqual([window]);
    expect(complementIntervals([{ start: -10, end: 2000 }], window)).toEqual([]);
    expect(complementIntervals([{ start: 0, end: 100 }, { start: 900, end: 1000 }], window)).toEqual([{ start: 100, end: 900 }]);
  });
});

describe('combine', () => {
  test('sums slots, recomputes the ratio, keeps the longest stall (the first on a tie) and where it was', () => {
    const a = { slots: 10, servedSlots: 9, ratio: 0.9, longestStall: { start: 0, end: 300, lengthMs: 300 } };
    const b = { slots: 30, servedSlots: 15, ratio: 0.5, longestStall: { start: 100, end: 600, lengthMs: 500 } };
    const c = { slots: 0, servedSlots: 0, ratio: 1, longestStall: { start: 200, end: 700, lengthMs: 500 } };
    expect(combine([a, b, c])).toEqual({ slots: 40, servedSlots: 24, ratio: 0.6, longestStall: b.longestStall, longestIn: 1 });
    expect(combine([])).toEqual({ slots: 0, servedSlots: 0, ratio: 1, longestStall: null, longestIn: -1 });
  });
});

describe('describeFaults', () => {
  const faults = [
    { start: 100, end: 400, what: 'crash n1 (leader)' },
    { start: 200, end: 200, what: 'transfer n0>n2' },
    { start: 250, end: 900, what: 'partition n0 | n1 n2' },
    { start: 300, end: 500, what: 'pause n2' },
    { start: 950, end: 1000, what: 'crash n0' },
  ];

  test('names the faults active during the interval, those covering more of it first, at most max', () => {
    // Covered of [350, 600]: partition 250, pause 150, crash 50.
    expect(describeFaults(faults, 350, 600)).toBe('partition n0 | n1 n2; pause n2; crash n1 (leader)');
    // Of [150, 600]: partition 350, crash 250, pause 200, the transfer (an instant) 0.
    expect(describeFaults(faults, 150, 600, 2)).toBe('partition n0 | n1 n2; crash n1 (leader); +2 more');
    // A fault that ends as the interval begins counts (the cluster recovers from it).
    expect(describeFaults(faults, 900, 920)).toBe('partition n0 | n1 n2');
    // An instant counts inside the interval, at its edges too.
    expect(describeFaults(faults, 200, 210)).toBe('crash n1 (leader); transfer n0>n2');
  });

  test('without an active fault, says so and names the one that ended last before', () => {
    // The pause started last (300) but the partition ended last (900).
    expect(describeFaults(faults, 910, 940)).toBe('no fault active (last: partition n0 | n1 n2, ended t=900)');
    expect(describeFaults(faults, 0, 50)).toBe('no fault active');
    expect(describeFaults([], 0, 50)).toBe('no fault active');
    // The end time written as the caller wants it.
    expect(describeFaults(faults, 910, 940, 3, (t) => `${t / 1000} s`)).toBe('no fault active (last: partition n0 | n1 n2, ended t=0.9 s)');
  });
});
