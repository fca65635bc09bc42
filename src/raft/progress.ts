// What the leader knows of each follower's log, and the flow control that keeps a slow follower
// from being flooded (etcd-io/raft's tracker: probe, replicate, snapshot, and an in-flight window).

import { NodeId, ProgressState, ProgressStatus } from './types';

/** A sliding window of appends sent but not yet acknowledged, bounded by count and bytes. */
export class Inflights {
  private readonly items: { index: number; bytes: number }[] = [];
  private bytes = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {}

  add(lastIndex: number, bytes: number): void {
    this.items.push({ index: lastIndex, bytes });
    this.bytes += bytes;
  }

  /** Frees every append whose last index is <= `index` (they were acknowledged). */
  freeUpTo(index: number): void {
    let n = 0;
    while (n < this.items.length && this.items[n].index <= index) {
      this.bytes -= this.items[n].bytes;
      n++;
    }
    if (n > 0) this.items.splice(0, n);
  }

  /** Frees the oldest one: a heartbeat answer proves the follower is alive, so let one more go. */
  freeFirstOne(): void {
    const first = this.items.shift();
    if (first) this.bytes -= first.bytes;
  }

  full(): boolean {
    return this.items.length >= this.maxCount || this.bytes >= this.maxBytes;
  }

  count(): number {
    return this.items.length;
  }

  reset(): void {
    this.items.length = 0;
    this.bytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** Probe state: an append is out and unanswered; wait for its answer or the next heartbeat. */
  probeSent = false;
  /** Heard from within the current election timeout (check-quorum). */
  recentActive = false;
  /** Snapshot state: the index of the snapshot being sent, and ticks since it was sent. */
  pendingSnapshot = 0;
  snapshotTicks = 0;
  readonly inflights: Inflights;

  constructor(
    readonly id: NodeId,
    next: number,
    public isLearner: boolean,
    maxInflight: number,
    maxInflightBytes: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = ProgressState.Probe;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = ProgressState.Replicate;
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeSnapshot(index: number): void {
    this.state = ProgressState.Snapshot;
    this.pendingSnapshot = index;
    this.snapshotTicks = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** An acknowledgement up to `index`. Returns whether it told us anything new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of an append whose previous index was `rejected`; `hint` is where the follower's
   * log may match. Returns false when the rejection is stale (answers an append already superseded).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /**
   * The follower no longer holds entries it acknowledged: its disk was wiped or restored from an
   * older copy. Forget the match (it only ever makes the leader more careful: a commit index
   * never goes back) and probe again from what the follower says it has.
   */
  restartAfterLoss(followerLastIndex: number): void {
    this.match = 0;
    this.becomeProbe();
    this.next = followerLastIndex + 1;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  status(): ProgressStatus {
    return {
      id: this.id,
      isLearner: this.isLearner,
      match: this.match,
      next: this.next,
      state: this.state,
      recentActive: this.recentActive,
    };
  }
}
