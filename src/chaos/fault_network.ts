// The mesh of fault proxies between raft-signer nodes: one FaultProxy per directed link, so node i
// reaches node j through proxy(i→j) and j reaches i through proxy(j→i). Faults are stated as
// "traffic from A to B" and mapped onto both proxies that carry it: A's own connections to B
// (forward direction of proxy(A→B)) and B's connections to A, on which A answers (backward
// direction of proxy(B→A)). Blocking only one of the two would leave Raft a path (a follower
// answers a leader on the leader's connection), so a one-way fault always holds both.

import { FaultProxy, LinkFault } from './fault_proxy';

export class FaultNetwork {
  private constructor(
    readonly ids: readonly string[],
    private readonly proxies: Map<string, FaultProxy>,
  ) {}

  /** Opens a proxy for every ordered pair of nodes; targets are set once the nodes' addresses are known. */
  static async create(ids: readonly string[], seed: number): Promise<FaultNetwork> {
    const proxies = new Map<string, FaultProxy>();
    try {
      let k = 0;
      for (const from of ids) {
        for (const to of ids) {
          if (from === to) continue;
          proxies.set(linkKey(from, to), await FaultProxy.listen(`${from}→${to}`, { seed: (seed ^ (0x9e3779b9 * ++k)) >>> 0 }));
        }
      }
    } catch (err) {
      await Promise.all([...proxies.values()].map((p) => p.close()));
      throw err;
    }
    return new FaultNetwork(ids, proxies);
  }

  /** The address `from` must dial to reach `to`. */
  route(from: string, to: string): string {
    return this.proxy(from, to).address;
  }

  /** Points every proxy leading to a node at the node's real listen address. */
  setTargets(listenAddress: (id: string) => string | null): void {
    for (const to of this.ids) {
      const address = listenAddress(to);
      if (address === null) continue;
      for (const from of this.ids) if (from !== to) this.proxy(from, to).setTarget(address);
    }
  }

  /** Holds (or releases) all traffic from `from` to `to`. */
  setBlocked(from: string, to: string, blocked: boolean): void {
    this.proxy(from, to).setFault({ holdForward: blocked });
    this.proxy(to, from).setFault({ holdBackward: blocked });
  }

  isBlocked(from: string, to: string): boolean {
    return this.proxy(from, to).currentFault.holdForward || this.proxy(to, from).currentFault.holdBackward;
  }

  /** Adds delay and jitter to traffic from `from` to `to`. */
  setLatency(from: string, to: string, delayMs: number, jitterMs: number): void {
    // The delay of a proxy applies to both its directions; traffic from→to runs on both proxies.
    for (const p of [this.proxy(from, to), this.proxy(to, from)]) {
      const f = p.currentFault;
      p.setFault({ delayMs: Math.max(f.delayMs, delayMs), jitterMs: Math.max(f.jitterMs, jitterMs) });
    }
  }

  /** Removes added delay and jitter from every link (holds stay as they are). */
  clearLatency(): void {
    for (const p of this.proxies.values()) p.setFault({ delayMs: 0, jitterMs: 0 });
  }

  /** Blocks both directions between every pair of nodes in different groups. */
  partition(groups: readonly (readonly string[])[]): void {
    const groupOf = new Map<string, number>();
    groups.forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
    for (const a of this.ids) {
      for (const b of this.ids) {
        if (a !== b && groupOf.get(a) !== groupOf.get(b)) this.setBlocked(a, b, true);
      }
    }
  }

  /** Destroys the open connections between two nodes, both ways. */
  cut(a: string, b: string): void {
    this.proxy(a, b).cut();
    this.proxy(b, a).cut();
  }

  /** Destroys every open connection of one node, to and from every other. */
  cutNode(id: string): void {
    for (const other of this.ids) if (other !== id) this.cut(id, other);
  }

  /** Every link back to normal; `cutHeld` also resets connections that had bytes held. */
  heal(options: { cutHeld?: boolean } = {}): void {
    for (const p of this.proxies.values()) {
      const f = p.currentFault;
      if (options.cutHeld === true && (f.holdForward || f.holdBackward)) p.cut();
      p.setFault({ holdForward: false, holdBackward: false, delayMs: 0, jitterMs: 0 });
    }
  }

  /** Every link's fault (for reports and tests). */
  faults(): { from: string; to: string; fault: Readonly<LinkFault> }[] {
    return [...this.proxies.values()].map((p) => {
      const [from, to] = p.name.split('→') as [string, string];
      return { from, to, fault: p.currentFault };
    });
  }

  /** Connections and bytes per link, for the report. */
  stats(): { link: string; connections: number; cuts: number; bytesForward: number; bytesBackward: number }[] {
    return [...this.proxies.values()].map((p) => ({ link: p.name, ...p.stats }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
  }

  private proxy(from: string, to: string): FaultProxy {
    const p = this.proxies.get(linkKey(from, to));
    if (p === undefined) throw new Error(`no link ${from}→${to}`);
    return p;
  }
}

function linkKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}
