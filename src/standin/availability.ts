// Availability over time, as a validator sees it: in how many slots of the target block time it
// got a signature while a majority of the raft-signer cluster was healthy, and the longest time it
// went without one meanwhile. Used by the simulator (src/sim/raft_simulation.ts) and by the chaos
// report (src/chaos/chaos_report.ts); it lives with the validator-node stand-ins because it is the
// validator's view, and neither of those two imports the other.
//
// Why not heights signed: both drive heights in lockstep (a simulated chain steps every
// `stepMs` whatever its validator signs; the chaos height driver starts the next height only
// when the last one is done), and the count of signatures, or of heights signed, stays high
// when a few slow periods are averaged with many good ones. A stall of several seconds during
// which a healthy majority could have signed but did not shows only as a few percent fewer
// signatures, or as fewer heights attempted. Counting slots, and naming the longest gap, shows it.
//
// Definitions (all times in milliseconds of one clock; intervals are half-open [start, end)):
//  - The window [window.start, window.end) is cut into consecutive slots of `slotMs`, from
//    window.start; a trailing partial slot is not counted.
//  - A slot is healthy when it lies entirely inside the time a majority was healthy (the
//    `healthy` intervals, merged where they overlap or touch). A slot in which the majority was
//    lost, even briefly, is not owed a signature.
//  - A healthy slot is served when a signature was obtained at a time t with start <= t < end.
//  - ratio = servedSlots / slots, and 1 when there is no healthy slot (nothing was owed).
//  - A stall is a maximal interval of healthy time, inside the window, with no signature
//    obtained: between two consecutive signatures, or between a signature and the start or end
//    of a healthy interval. Unhealthy time never counts: a gap in signatures that spans an
//    unhealthy interval is cut there, into the stall before it and the one after it. The
//    longest stall is the first of the longest ones; none (length 0) without healthy time.
//
// The computation takes one series of signature times: that of one validator node, or the union
// of the nodes of one chain (the validator is available when any of its nodes signs), or of
// anything else; the caller chooses and aggregates (see `combine`). Pure: no clock, no I/O.

export interface Interval {
  start: number;
  end: number;
}

export interface AvailabilityInput {
  /** When each signature was obtained, in any order. */
  signedAt: readonly number[];
  /** When a majority of the cluster was healthy, in any order, possibly overlapping. */
  healthy: readonly Interval[];
  /** The slot length: the target block time. */
  slotMs: number;
  /** The time considered. */
  window: Interval;
}

export interface Stall {
  start: number;
  end: number;
  lengthMs: number;
}

export interface Availability {
  /** Slots in which a majority was healthy throughout. */
  slots: number;
  /** Of those, the slots in which at least one signature was obtained. */
  servedSlots: number;
  /** servedSlots / slots; 1 when slots is 0. */
  ratio: number;
  /** The longest stall in healthy time; null when there was no healthy time in the window. */
  longestStall: Stall | null;
}

/** The intervals clipped to the window, sorted, with overlapping or touching ones merged; empty ones dropped. */
export function normalizeIntervals(intervals: readonly Interval[], window: Interval): Interval[] {
  const clipped = intervals
    .map((i) => ({ start: Math.max(i.start, window.start), end: Math.min(i.end, window.end) }))
    .filter((i) => i.end > i.start)
    .sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: Interval[] = [];
  for (const i of clipped) {
    const last = merged[merged.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else merged.push({ ...i });
  }
  return merged;
}

/** The parts of the window that none of the intervals cover, sorted (e.g. healthy time from unhealthy time). */
export function complementIntervals(intervals: readonly Interval[], window: Interval): Interval[] {
  const out: Interval[] = [];
  let from = window.start;
  for (const i of normalizeIntervals(intervals, window)) {
    if (i.start > from) out.push({ start: from, end: i.start });
    from = i.end;
  }
  if (window.end > from) out.push({ start: from, end: window.end });
  return out;
}

/** The first index in the sorted `xs` whose value is >= x. */
function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function computeAvailability(input: AvailabilityInput): Availability {
  const { slotMs, window } = input;
  if (!(slotMs > 0) || !Number.isFinite(slotMs)) throw new RangeError(`slotMs must be a positive number, got ${slotMs}`);
  if (!(window.end >= window.start)) throw new RangeError(`window ends (${window.end}) before it starts (${window.start})`);
  const healthy = normalizeIntervals(input.healthy, window);
  const signed = input.signedAt.filter((t) => t >= window.start && t < window.end).sort((a, b) => a - b);

  // Slots: walk them with the healthy interval that may contain them.
  let slots = 0;
  let servedSlots = 0;
  const count = Math.floor((window.end - window.start) / slotMs);
  let h = 0;
  for (let k = 0; k < count; k++) {
    const start = window.start + k * slotMs;
    const end = start + slotMs;
    while (h < healthy.length && healthy[h].end < end) h++;
    if (h === healthy.length) break;
    if (healthy[h].start > start) continue;
    slots++;
    const i = lowerBound(signed, start);
    if (i < signed.length && signed[i] < end) servedSlots++;
  }

  // Stalls: within each healthy interval, the gaps between its start, its signatures and its end.
  let longestStall: Stall | null = null;
  for (const iv of healthy) {
    let from = iv.start;
    const consider = (to: number): void => {
      if (longestStall === null || to - from > longestStall.lengthMs) longestStall = { start: from, end: to, lengthMs: to - from };
    };
    for (let i = lowerBound(signed, iv.start); i < signed.length && signed[i] < iv.end; i++) {
      consider(signed[i]);
      from = signed[i];
    }
    consider(iv.end);
  }

  return { slots, servedSlots, ratio: slots === 0 ? 1 : servedSlots / slots, longestStall };
}

/**
 * Several series (e.g. one per chain) as one: slots and served slots add up, the ratio is
 * recomputed from the sums, the longest stall is the longest of all (the first given on a tie).
 */
export function combine(parts: readonly Availability[]): Availability & { longestIn: number } {
  let slots = 0;
  let servedSlots = 0;
  let longestStall: Stall | null = null;
  let longestIn = -1;
  parts.forEach((p, i) => {
    slots += p.slots;
    servedSlots += p.servedSlots;
    if (p.longestStall && (longestStall === null || p.longestStall.lengthMs > longestStall.lengthMs)) {
      longestStall = p.longestStall;
      longestIn = i;
    }
  });
  return { slots, servedSlots, ratio: slots === 0 ? 1 : servedSlots / slots, longestStall, longestIn };
}

/** A fault as the simulator logs it: what it was, from when until when (start === end: an instant). */
export interface FaultRecord {
  start: number;
  end: number;
  what: string;
}

/**
 * A short text naming the faults active at some time in [start, end] (their intervals overlap
 * it, instants inside it and a fault that ends as it begins count), at most `max`, those that
 * covered more of it first (then in the order they started); when none was, says so and names the
 * fault that ended last before it (what the cluster was recovering from). `time` writes that end
 * time (default: the number as it is).
 */
export function describeFaults(faults: readonly FaultRecord[], start: number, end: number, max = 3, time: (t: number) => string = String): string {
  const active = faults.filter((f) => f.start <= end && f.end >= start);
  if (active.length === 0) {
    let last: FaultRecord | null = null;
    for (const f of faults) if (f.end < start && (last === null || f.end >= last.end)) last = f;
    return last ? `no fault active (last: ${last.what}, ended t=${time(last.end)})` : 'no fault active';
  }
  const names: string[] = [];
  const covered = (f: FaultRecord): number => Math.min(f.end, end) - Math.max(f.start, start);
  for (const f of [...active].sort((a, b) => covered(b) - covered(a) || a.start - b.start)) if (!names.includes(f.what)) names.push(f.what);
  const shown = names.slice(0, max).join('; ');
  return names.length > max ? `${shown}; +${names.length - max} more` : shown;
}
