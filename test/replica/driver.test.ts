// ReplicaDriver on a hand-run host: every answer it owes arrives, also when it stops.

import { NodeStoppedError } from '../../src/replica/driver';
import { handRunNode } from './hand_run_host';

function lonelyDriver() {
  const n = handRunNode('a', ['a']);
  return { driver: n.driver, writes: n.writes, runTurns: n.run };
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
