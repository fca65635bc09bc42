// The founding ceremony of src/node/founding.ts for in-process tests: every founder's `found`
// resolves once all founders have given their store ids, with the same membership for all; a
// store that comes after the founding with another id is refused, as a real founder refuses it.

import { FoundingMembership } from '../../src/node/founding';
import { NodeId } from '../../src/raft/types';

export class InMemoryFounding {
  private readonly stores = new Map<NodeId, string>();
  private readonly waiters: (() => void)[] = [];
  private founded: FoundingMembership | null = null;

  constructor(private readonly founders: NodeId[]) {}

  /** What RaftNode.create's `found` option calls for founder `id` with store `storeId`. */
  found(id: NodeId, storeId: string): Promise<FoundingMembership> {
    if (this.founded) {
      if (this.founded.incarnations[id] !== storeId) {
        return Promise.reject(new Error(`${id} founded with another store; this store is new and must rejoin as a learner`));
      }
      return Promise.resolve(this.founded);
    }
    this.stores.set(id, storeId);
    if (this.founders.every((f) => this.stores.has(f))) {
      const voters = [...this.founders].sort();
      this.founded = { voters, incarnations: Object.fromEntries(voters.map((v) => [v, this.stores.get(v) as string])) };
      for (const w of this.waiters.splice(0)) w();
      return Promise.resolve(this.founded);
    }
    return new Promise((resolve) => this.waiters.push(() => resolve(this.founded as FoundingMembership)));
  }
}

/**
 * A founding for a node whose fellow founders never start (single-node and lonely-node tests): its
 * own store is named, the others with no store (nothing they send would count).
 */
export function lonelyFounding(selfId: NodeId, storeId: string, founders: NodeId[]): () => Promise<FoundingMembership> {
  const voters = [...founders].sort();
  return () => Promise.resolve({ voters, incarnations: Object.fromEntries(voters.map((v) => [v, v === selfId ? storeId : ''])) });
}
