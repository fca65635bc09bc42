// ReplicaDriver on a hand-run host: every answer it owes arrives, also when it stops.

import { discardLogger } from '../../src/log/logger';
import { bootstrapState, Raft } from '../../src/raft/raft';
import { SeededRandom } from '../../src/raft/rng';
import type { StateMachine } from '../../src/raft/state_machine';
import { NodeStoppedError, ReplicaDriver } from '../../src/replica/driver';
import type { Clock, PersistBatch } from '../../src/replica/host';

/** One voter; turns run when the test says; writes wait until the test completes them. */
function lonelyDriver(): { driver: ReplicaDriver; turns: (() => void)[]; writes: { batch: PersistBatch; done: (e: Error | null) => void }[]; runTurns: () => void } {
  const turns: (() => void)[] = [];
  const writes: { batch: PersistBatch; done: (e: Error | null) => void }[] = [];
  const boot = bootstrapState(['a']);
  const raft = new Raft({ id: 'a', heartbeatTicks: 1, electionTicks: 10, random: new SeededRandom(1) }, { ...boot, entries: boot.entries.slice() });
  const machine: StateMachine = { apply: () => [], restore: () => [], snapshot: () => new Uint8Array(0) };
  const clock: Clock = { now: () => 0, after: () => ({ cancel: () => undefined }), every: () => ({ cancel: () => undefined }), soon: (fn) => turns.push(fn) };
  const driver = new ReplicaDriver({
    id: 'a',
    raft,
    machine,
    clock,
    disk: { persist: (batch, done) => writes.push({ batch, done }) },
    network: { send: () => undefined },
    tickMs: 1,
    snapshotEntries: 1000,
    logger: discardLogger(),
  });
  const runTurns = (): void => {
    while (turns.length > 0) (turns.shift() as () => void)();
  };
  return { driver, turns, writes, runTurns };
}

describe('ReplicaDriver', () => {
  test('a call queued while a write is in flight is answered NodeStoppedError when the node stops', () => {
    const { driver, writes, runTurns } = lonelyDriver();
    driver.start();
    driver.call((raft) => raft.campaign(), () => undefined);
    runTurns();
    expect(writes.length).toBe(1); // the campaign's batch, not yet durable
    const answers: (Error | null)[] = [];
    driver.propose(Buffer.from('x'), (error) => answers.push(error));
    runTurns();
    let stopped = false;
    driver.stop(() => (stopped = true));
    expect(answers).toHaveLength(1);
    expect(answers[0]).toBeInstanceOf(NodeStoppedError);
    writes[0].done(null);
    expect(stopped).toBe(true);
  });

  test('a call queued when a write fails is answered NodeStoppedError, with the reason', () => {
    const { driver, writes, runTurns } = lonelyDriver();
    driver.start();
    driver.call((raft) => raft.campaign(), () => undefined);
    runTurns();
    const answers: (Error | null)[] = [];
    driver.propose(Buffer.from('x'), (error) => answers.push(error));
    runTurns();
    writes[0].done(new Error('fsync failed: no space left on device'));
    expect(answers).toHaveLength(1);
    expect(answers[0]).toBeInstanceOf(NodeStoppedError);
    expect(answers[0]?.message).toMatch(/fsync failed/);
  });

  test('a callback that throws is logged, and the node goes on', () => {
    const { driver, writes, runTurns } = lonelyDriver();
    driver.start();
    driver.call(() => 1, () => {
      throw new Error('a caller bug');
    });
    const later: (Error | null)[] = [];
    driver.call(() => 2, (error) => later.push(error));
    runTurns();
    expect(driver.isStopped()).toBe(false);
    expect(later).toEqual([null]);
    expect(writes.length).toBeGreaterThanOrEqual(0);
  });
});
