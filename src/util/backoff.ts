// Capped exponential backoff with optional jitter, for retry loops that run on real timers (the
// privval dialer's redials, the Raft transport's reconnects). It only computes delays: the caller
// owns the timer. The replica core and the simulator run on an injected, virtual clock and do not
// use this.
//
// The n-th delay since the last reset() (n = 0, 1, ...) is
//   ceiling = min(maxMs, initialMs * factor^n)
//   delay   = round(ceiling * (1 - jitter + jitter * random()))
// so with jitter 0.5 a delay lies in [ceiling / 2, ceiling): retrying peers spread out rather
// than retrying in lockstep. Delays are whole milliseconds, as timers count them.

export interface BackoffOptions {
  /** The first delay (before jitter); positive. */
  initialMs: number;
  /** The cap (before jitter); positive. Below initialMs it simply caps the first delay too. */
  maxMs: number;
  /** Growth per attempt, at least 1 (default 2). */
  factor?: number;
  /** The share of each delay that is random, in [0, 1] (default 0: no jitter). */
  jitter?: number;
  /** Source of numbers in [0, 1) for the jitter (default Math.random); tests fix it. */
  random?: () => number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private count = 0;

  constructor(options: BackoffOptions) {
    this.initialMs = check(options.initialMs, 'initialMs', (v) => v > 0, 'a positive number');
    this.maxMs = check(options.maxMs, 'maxMs', (v) => v > 0, 'a positive number');
    this.factor = check(options.factor ?? 2, 'factor', (v) => v >= 1, 'a number of at least 1');
    this.jitter = check(options.jitter ?? 0, 'jitter', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt; each call counts one more attempt. */
  next(): number {
    // factor ** count may overflow to Infinity for a long streak; min() turns that into maxMs.
    const ceiling = Math.min(this.maxMs, this.initialMs * this.factor ** this.count);
    this.count += 1;
    if (this.jitter === 0) return Math.round(ceiling);
    return Math.round(ceiling * (1 - this.jitter + this.jitter * this.random()));
  }

  /** Starts over: the next delay is initialMs (before jitter) again. */
  reset(): void {
    this.count = 0;
  }

  /** How many delays next() has given since the start or the last reset(). */
  get attempts(): number {
    return this.count;
  }
}

function check(value: number, name: string, ok: (v: number) => boolean, what: string): number {
  if (!Number.isFinite(value) || !ok(value)) throw new RangeError(`backoff ${name} must be ${what}, got ${value}`);
  return value;
}
