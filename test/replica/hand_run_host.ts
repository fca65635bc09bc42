// A host for the replica core that does nothing by itself: turns run when the test runs them,
// writes are durable when the test completes them, and timers never fire.

import { discardLogger } from '../../src/log/logger';
import { bootstrapState, Raft } from '../../src/raft/raft';
import { SeededRandom } from '../../src/raft/rng';
import type { StateMachine } from '../../src/raft/state_machine';
import { ReplicaDriver } from '../../src/replica/driver';
import type { Clock, PersistBatch } from '../../src/replica/host';

export interface HandRunNode {
  driver: ReplicaDriver;
  clock: Clock;
  writes: { batch: PersistBatch; done: (e: Error | null) => void }[];
  /** Runs every turn the driver asked for, and those they ask for in turn. */
  run(): void;
}

export const NOOP_MACHINE: StateMachine = { apply: () => [], restore: () => [], snapshot: () => new Uint8Array(0) };

/** Node `id` of a cluster founded by `voters`, on a fresh store. */
export function handRunNode(id: string, voters: string[], machine: StateMachine = NOOP_MACHINE): HandRunNode {
  const turns: (() => void)[] = [];
  const writes: HandRunNode['writes'] = [];
  const boot = bootstrapState(voters);
  const raft = new Raft({ id, heartbeatTicks: 1, electionTicks: 10, random: new SeededRandom(1) }, { ...boot, entries: boot.entries.slice() });
  const clock: Clock = { now: () => 0, after: () => ({ cancel: () => undefined }), every: () => ({ cancel: () => undefined }), soon: (fn) => turns.push(fn) };
  const driver = new ReplicaDriver({
    id,
    raft,
    machine,
    clock,
    disk: { persist: (batch, done) => writes.push({ batch, done }) },
    network: { send: () => undefined },
    tickMs: 1,
    snapshotEntries: 1000,
    logger: discardLogger(),
  });
  return {
    driver,
    clock,
    writes,
    run: () => {
      while (turns.length > 0) (turns.shift() as () => void)();
    },
  };
}
