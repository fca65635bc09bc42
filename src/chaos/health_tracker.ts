// Whether the cluster has a healthy majority, over time. Liveness is only promised while one
// exists (any minority may fail), so the checker judges heights separately by it.
//
// A node is faulted while the nemesis has it killed, paused, being restarted, wiped or restored
// (until it has caught up again). A directed link is bad while the nemesis blocks it or makes it
// flap; added latency alone leaves it good. A healthy majority exists when some unfaulted node can
// exchange messages both ways with enough other unfaulted nodes to make a majority with itself:
// that is what a Raft leader needs (a star around the leader, not a full mesh).
//
// Per node it also records when the node itself was cut off: faulted, or unable to exchange
// messages both ways with enough unfaulted nodes to make a majority with itself. Such a node
// cannot serve its own validator node (it must refuse: no quorum), so a proposal that only its
// validator node could have asked for is not a failure of the cluster.

export interface HealthInterval {
  /** Milliseconds since the epoch. */
  from: number;
  to: number;
}

/** A time a node was cut off (faulted, or without a majority it could talk to both ways). */
export interface NodeCutOff extends HealthInterval {
  node: string;
}

export class HealthTracker {
  private readonly nodeFaults = new Map<string, Set<string>>();
  private readonly badLinks = new Map<string, Set<string>>();
  private healthySince: number | null;
  private unhealthySince: number | null = null;
  private readonly unhealthy: HealthInterval[] = [];
  private readonly cutOffSince = new Map<string, number>();
  private readonly cutOff: NodeCutOff[] = [];

  constructor(
    readonly ids: readonly string[],
    private readonly now: () => number = Date.now,
  ) {
    this.healthySince = now();
  }

  get majority(): number {
    return Math.floor(this.ids.length / 2) + 1;
  }

  /** Marks a node faulted by fault `faultId` (a node may carry several). */
  faultNode(id: string, faultId: string): void {
    this.update(() => setOf(this.nodeFaults, id).add(faultId));
  }

  clearNode(id: string, faultId: string): void {
    this.update(() => this.nodeFaults.get(id)?.delete(faultId));
  }

  /** Marks traffic from `from` to `to` as not getting through, because of fault `faultId`. */
  faultLink(from: string, to: string, faultId: string): void {
    this.update(() => setOf(this.badLinks, `${from}\u0000${to}`).add(faultId));
  }

  clearLinks(faultId: string): void {
    this.update(() => {
      for (const s of this.badLinks.values()) s.delete(faultId);
    });
  }

  /** Whether any node or link is under a fault right now. */
  anyFault(): boolean {
    return [...this.nodeFaults.values(), ...this.badLinks.values()].some((s) => s.size > 0);
  }

  /** Nodes currently faulted. */
  faultedNodes(): string[] {
    return this.ids.filter((id) => (this.nodeFaults.get(id)?.size ?? 0) > 0);
  }

  healthyMajority(): boolean {
    return this.up().some((id) => this.reachesMajority(id));
  }

  /** Whether a node is faulted or cannot talk both ways with a majority (itself included). */
  isCutOff(id: string): boolean {
    return (this.nodeFaults.get(id)?.size ?? 0) > 0 || !this.reachesMajority(id);
  }

  /** Every time a node was cut off, closed intervals plus the open ones (ending now). */
  cutOffIntervals(): NodeCutOff[] {
    const now = this.now();
    return [...this.cutOff, ...[...this.cutOffSince].map(([node, from]) => ({ node, from, to: now }))];
  }

  private up(): string[] {
    return this.ids.filter((id) => (this.nodeFaults.get(id)?.size ?? 0) === 0);
  }

  private reachesMajority(id: string): boolean {
    const linked = (a: string, b: string): boolean =>
      (this.badLinks.get(`${a}\u0000${b}`)?.size ?? 0) === 0 && (this.badLinks.get(`${b}\u0000${a}`)?.size ?? 0) === 0;
    return 1 + this.up().filter((o) => o !== id && linked(id, o)).length >= this.majority;
  }

  /** The closed intervals without a healthy majority, plus the open one (ending now) if any. */
  unhealthyIntervals(): HealthInterval[] {
    const out = [...this.unhealthy];
    if (this.unhealthySince !== null) out.push({ from: this.unhealthySince, to: this.now() });
    return out;
  }

  private update(change: () => void): void {
    change();
    const healthy = this.healthyMajority();
    const t = this.now();
    if (healthy && this.unhealthySince !== null) {
      this.unhealthy.push({ from: this.unhealthySince, to: t });
      this.unhealthySince = null;
      this.healthySince = t;
    } else if (!healthy && this.healthySince !== null) {
      this.unhealthySince = t;
      this.healthySince = null;
    }
    for (const id of this.ids) {
      const since = this.cutOffSince.get(id);
      const cut = this.isCutOff(id);
      if (cut && since === undefined) this.cutOffSince.set(id, t);
      else if (!cut && since !== undefined) {
        this.cutOff.push({ node: id, from: since, to: t });
        this.cutOffSince.delete(id);
      }
    }
  }
}

function setOf(map: Map<string, Set<string>>, key: string): Set<string> {
  let s = map.get(key);
  if (s === undefined) {
    s = new Set();
    map.set(key, s);
  }
  return s;
}
