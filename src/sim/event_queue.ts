// A priority queue of timed events for the simulator: earliest time first, and among equal times
// the one scheduled first, so a run is a pure function of its seed.

export interface TimedEvent<T> {
  at: number;
  seq: number;
  value: T;
}

export class EventQueue<T> {
  private heap: TimedEvent<T>[] = [];
  private seq = 0;

  push(at: number, value: T): void {
    const ev = { at, seq: this.seq++, value };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  pop(): TimedEvent<T> | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop() as TimedEvent<T>;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }

  get size(): number {
    return this.heap.length;
  }
}

function before<T>(a: TimedEvent<T>, b: TimedEvent<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
