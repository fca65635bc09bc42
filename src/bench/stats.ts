// Summaries of latency samples for the benchmark report: exact percentiles over the sorted
// samples (nearest rank), in milliseconds, never interpolated, so a p99.9 over 1000 samples is the
// largest but one, not a guess between two of them.

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of ascending `sorted` (q in [0, 1]); NaN when there are no samples. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((s, x) => s + x, 0);
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
    mean: sorted.length > 0 ? sum / sorted.length : NaN,
  };
}

/** Milliseconds with a precision that suits the magnitude (0.071, 1.43, 12.5, 830). */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1) return ms.toFixed(3);
  if (ms < 10) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return ms.toFixed(0);
}

/** Rounds every number in a summary to microseconds, for the JSON report. */
export function roundSummary(s: LatencySummary): LatencySummary {
  const r = (x: number): number => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);
  return { count: s.count, p50: r(s.p50), p90: r(s.p90), p99: r(s.p99), p999: r(s.p999), max: r(s.max), mean: r(s.mean) };
}
