// What the demo counts from the heights its validator-node stand-ins drive: heights signed per
// validator node, sign latency over a sliding window, and why requests went unsigned. Refusals
// are split in two, because they mean opposite things: a conflicting or regressing request
// refused is slashing protection doing its job; a refusal for lack of a leader or a quorum is the
// price of a failure, and should stop within about an election timeout.

import { HeightResult, RequestResult } from '../standin/height_driver';

/** How many recent signatures the latency percentiles are taken over. */
export const LATENCY_WINDOW = 200;

/** Refusal reasons that are FilePV's double-sign rules at work (see src/signer/filepv_rules.ts). */
const PROTECTION_REASONS = ['conflicting-data', 'height-regression', 'round-regression', 'step-regression'];

/** The stand-ins' refusal text is "<reason>: <message>" (privval_session's RemoteSignerError). */
export function isProtectionRefusal(description: string): boolean {
  return PROTECTION_REASONS.some((reason) => description.startsWith(`${reason}:`));
}

/** A validator node whose signer is down misses its votes without asking: not worth an event. */
export const NOT_CONNECTED_MESSAGE = 'no signer connected';

/** The last `capacity` samples, for percentiles that follow what happens now. */
export class SlidingWindow {
  private readonly samples: number[] = [];
  private next = 0;

  constructor(readonly capacity: number = LATENCY_WINDOW) {}

  push(value: number): void {
    if (this.samples.length < this.capacity) this.samples.push(value);
    else this.samples[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
  }

  get size(): number {
    return this.samples.length;
  }

  /** Nearest-rank percentile (p in 0..100); null with no samples. */
  percentile(p: number): number | null {
    if (this.samples.length === 0) return null;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const rank = Math.ceil((p / 100) * sorted.length);
    return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
  }
}

export interface ValidatorCounters {
  name: string;
  /** Heights whose precommit this validator node got signed (it took part in the block). */
  heightsSigned: number;
  lastSignedHeight: bigint | null;
  signatures: number;
  /** Refused by the double-sign rules (it asked for something conflicting). */
  protectionRefusals: number;
  /** Refused or unanswered for lack of leader, quorum or time; or its signer was down. */
  unsigned: number;
  latency: SlidingWindow;
}

/** What one height added, for the demo's event lines. */
export interface HeightNotes {
  height: bigint;
  protectionRefusals: RequestResult[];
  /** Not signed for another reason than protection, from a stand-in whose signer was connected. */
  failures: RequestResult[];
}

export class DemoStats {
  heights = 0;
  fullySignedHeights = 0;
  lastHeight: bigint | null = null;
  readonly overallLatency = new SlidingWindow();
  private readonly validators = new Map<string, ValidatorCounters>();

  constructor(validatorNames: readonly string[]) {
    for (const name of validatorNames) {
      this.validators.set(name, {
        name,
        heightsSigned: 0,
        lastSignedHeight: null,
        signatures: 0,
        protectionRefusals: 0,
        unsigned: 0,
        latency: new SlidingWindow(),
      });
    }
  }

  get perValidator(): ValidatorCounters[] {
    return [...this.validators.values()];
  }

  get protectionRefusals(): number {
    return this.perValidator.reduce((sum, v) => sum + v.protectionRefusals, 0);
  }

  record(result: HeightResult): HeightNotes {
    this.heights++;
    if (result.fullySigned) this.fullySignedHeights++;
    this.lastHeight = result.height;
    const notes: HeightNotes = { height: result.height, protectionRefusals: [], failures: [] };
    for (const request of result.requests) {
      const v = this.validators.get(request.standin);
      if (!v) continue;
      if (request.outcome === 'signed') {
        v.signatures++;
        v.latency.push(request.latencyMs);
        this.overallLatency.push(request.latencyMs);
        if (request.step === 'precommit') {
          v.heightsSigned++;
          v.lastSignedHeight = result.height;
        }
      } else if (request.outcome === 'refused' && isProtectionRefusal(request.message ?? '')) {
        v.protectionRefusals++;
        notes.protectionRefusals.push(request);
      } else {
        v.unsigned++;
        if (request.message !== NOT_CONNECTED_MESSAGE) notes.failures.push(request);
      }
    }
    return notes;
  }
}
