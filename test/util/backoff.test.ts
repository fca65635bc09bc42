// The shared retry backoff: exponential growth from initialMs, capped at maxMs, with jitter drawn
// from an injected source so that every delay here is exact.

import { Backoff } from '../../src/util/backoff';

/** A random source that returns `values` in turn (and fails the test if it runs out). */
function fixed(...values: number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error('the random source was asked more often than expected');
    return values[i++];
  };
}

function delays(backoff: Backoff, n: number): number[] {
  return Array.from({ length: n }, () => backoff.next());
}

describe('Backoff', () => {
  test('without jitter: initialMs, then doubling, then held at maxMs', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000 });
    expect(delays(backoff, 6)).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  test('another factor', () => {
    expect(delays(new Backoff({ initialMs: 10, maxMs: 500, factor: 3 }), 5)).toEqual([10, 30, 90, 270, 500]);
    expect(delays(new Backoff({ initialMs: 10, maxMs: 500, factor: 1 }), 3)).toEqual([10, 10, 10]);
  });

  test('jitter scales the capped delay into [ceiling * (1 - jitter), ceiling)', () => {
    // random 0 gives the floor, random just below 1 nearly the ceiling, 0.5 the middle.
    const backoff = new Backoff({ initialMs: 100, maxMs: 400, jitter: 0.5, random: fixed(0, 0.5, 0.999, 0, 0.5) });
    expect(delays(backoff, 5)).toEqual([50, 150, 400, 200, 300]);
  });

  test('full jitter reaches down to zero', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 1, random: fixed(0, 0.25) });
    expect(delays(backoff, 2)).toEqual([0, 50]);
  });

  test('without jitter the random source is not asked', () => {
    const random = jest.fn(() => 0.5);
    delays(new Backoff({ initialMs: 1, maxMs: 8, random }), 4);
    expect(random).not.toHaveBeenCalled();
  });

  test('delays are whole milliseconds', () => {
    const backoff = new Backoff({ initialMs: 3, maxMs: 100, jitter: 0.5, random: fixed(0.1, 0.9) });
    // 3 * 0.55 = 1.65 and 6 * 0.95 = 5.7
    expect(delays(backoff, 2)).toEqual([2, 6]);
  });

  test('reset() starts over at initialMs; attempts counts the delays since', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 10_000 });
    expect(backoff.attempts).toBe(0);
    expect(delays(backoff, 3)).toEqual([100, 200, 400]);
    expect(backoff.attempts).toBe(3);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(delays(backoff, 2)).toEqual([100, 200]);
    expect(backoff.attempts).toBe(2);
  });

  test('a long streak stays at maxMs (no overflow to Infinity or NaN)', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 5000, jitter: 0.5, random: () => 0.999999 });
    let last = 0;
    for (let i = 0; i < 2000; i++) last = backoff.next();
    expect(last).toBe(5000);
    expect(backoff.attempts).toBe(2000);
  });

  test('a cap below initialMs caps the first delay too', () => {
    expect(delays(new Backoff({ initialMs: 100, maxMs: 50 }), 2)).toEqual([50, 50]);
  });

  test.each([
    ['initialMs 0', { initialMs: 0, maxMs: 10 }, /initialMs/],
    ['initialMs NaN', { initialMs: Number.NaN, maxMs: 10 }, /initialMs/],
    ['maxMs negative', { initialMs: 1, maxMs: -1 }, /maxMs/],
    ['maxMs Infinity', { initialMs: 1, maxMs: Number.POSITIVE_INFINITY }, /maxMs/],
    ['factor below 1', { initialMs: 1, maxMs: 10, factor: 0.5 }, /factor/],
    ['jitter above 1', { initialMs: 1, maxMs: 10, jitter: 1.5 }, /jitter/],
    ['jitter negative', { initialMs: 1, maxMs: 10, jitter: -0.1 }, /jitter/],
  ])('refuses %s', (_name, options, message) => {
    expect(() => new Backoff(options)).toThrow(RangeError);
    expect(() => new Backoff(options)).toThrow(message);
  });
});
