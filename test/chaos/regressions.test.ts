// Regression tests for two product bugs the chaos harness found, reduced to deterministic
// reproductions on a real 3-node cluster with the harness's fault proxies; each failed before its
// fix.
//
// 1. A request forwarded to a leader that freezes (SIGSTOP, a long GC pause, its answers lost one
//    way) waited out the whole signing deadline and was refused, although a new leader was elected
//    within about an election timeout. Fix: SignCoordinator abandons a forward as soon as its node
//    follows another leader, and asks that one.
// 2. A node restarted with a wiped data directory bootstrapped again as a founding voter with an
//    empty log and granted its vote to any candidate. With a follower lagging, that let the lagging
//    follower become leader without a decision the old leader had committed and released: the same
//    height/round/step signed twice. Fix: an empty store is bootstrapped only for a new cluster
//    (new_cluster_marker.ts); a wiped node refuses to start and must rejoin as a learner.
// 3. The same with a data directory put back from an older copy instead of wiped: the node had
//    forgotten the votes and entries it acknowledged since the copy and voted as if nothing
//    happened. Fix: the node keeps a high-water record of its store beside its config
//    (store_high_water.ts) and refuses a store behind it; it must rejoin as a learner too.

import fs from 'node:fs';
import path from 'node:path';
import { FaultNetwork } from '../../src/chaos/fault_network';
import { ProcessCluster, waitFor } from '../../src/harness/process_cluster';
import { readStoreHighWater } from '../../src/node/store_high_water';
import { SignOutcome } from '../../src/cometbft/sign_types';
import { BLOCK, leaderAmong, NIL, prevote as prevoteOn, proxiedCluster as proxiedOn } from '../support/proxied_cluster';

const prevote = (pubKey: Uint8Array, height: bigint, blockId: typeof BLOCK) => prevoteOn(CHAIN, pubKey, height, blockId);
const proxiedCluster = () => proxiedOn(CHAIN);

const CHAIN = 'bug-chain';

/** Kills b, changes its data directory while a cannot reach it, starts it; its exit code. */
async function restartUnseen(c: ProcessCluster, net: FaultNetwork, a: string, b: string, change: () => void): Promise<number | null> {
  await c.kill(b);
  change();
  net.setBlocked(a, b, true);
  net.setBlocked(b, a, true);
  const restarted = c.start(b);
  return new Promise<number | null>((resolve) => restarted.once('exit', (code) => resolve(code)));
}

/**
 * 3. a crashes; the links heal, dropping what was held (connections that timed out). 4. A nil
 * prevote at 5/0, conflicting with the block a released, through the lagging node.
 */
async function crashLeaderThenConflict(c: ProcessCluster, net: FaultNetwork, a: string, lagging: string): Promise<SignOutcome> {
  await c.kill(a);
  net.heal({ cutHeld: true });
  return c.sign(lagging, prevote(c.validatorKey().publicKey, 5n, NIL));
}

describe('product bugs the chaos harness found, fixed', () => {
  let cluster: ProcessCluster | undefined;
  let network: FaultNetwork | undefined;

  afterEach(async () => {
    await cluster?.destroy();
    await network?.close();
    cluster = undefined;
    network = undefined;
  });

  test('a request forwarded to a frozen leader goes to the next leader', async () => {
    ({ cluster, network } = await proxiedCluster());
    const c = cluster;
    const key = c.validatorKey();
    const leader = await leaderAmong(c, c.ids);
    const follower = c.ids.find((id) => id !== leader) as string;
    expect((await c.sign(follower, prevote(key.publicKey, 1n, BLOCK))).kind).toBe('signed');
    await c.signal(leader, 'SIGSTOP');
    // The follower still believes in the frozen leader and forwards to it.
    const outcome = await c.sign(follower, prevote(key.publicKey, 2n, BLOCK), 4500);
    // A new leader was there well within the deadline.
    const next = await leaderAmong(c, c.ids.filter((id) => id !== leader));
    expect(next).not.toBe(leader);
    await c.signal(leader, 'SIGCONT');
    expect(outcome.kind).toBe('signed');
  }, 40_000);

  test('a wiped node does not help elect a leader that lacks a released decision', async () => {
    ({ cluster, network } = await proxiedCluster());
    const c = cluster;
    const net = network;
    const key = c.validatorKey();
    const a = await leaderAmong(c, c.ids);
    const [b, lagging] = c.ids.filter((id) => id !== a) as [string, string];
    // 1. `lagging` is cut off; a and b commit and release a prevote for a block at 5/0.
    net.partition([[lagging], [a, b]]);
    const first = prevote(key.publicKey, 5n, BLOCK);
    const released = await c.sign(a, first);
    expect(released.kind).toBe('signed');
    // 2. b's disk is replaced (killed, wiped, restarted) while a cannot reach it.
    const code = await restartUnseen(c, net, a, b, () => fs.rmSync(c.dataDir(b), { recursive: true, force: true }));
    // The wiped node refuses to found the cluster again: it must rejoin as a learner.
    expect(code).toBe(1);
    expect(c.log(b)).toMatch(/is empty, but node\d is a founding member/);
    // 3, 4. With a down and b refusing to vote, the lagging node cannot become leader, so nothing
    // is signed.
    expect((await crashLeaderThenConflict(c, net, a, lagging)).kind).toBe('refused');
  }, 60_000);

  test('a node restored from an older copy of its data refuses to start, so it cannot help a lagging node double-sign', async () => {
    ({ cluster, network } = await proxiedCluster());
    const c = cluster;
    const net = network;
    const key = c.validatorKey();
    const first = await leaderAmong(c, c.ids);
    const b = c.ids.find((id) => id !== first) as string;
    // 0. A copy of b's data directory, taken while b is stopped for a moment (a backup).
    expect(await c.stop(b)).toBe(0);
    const backup = path.join(c.root, `backup-${b}`);
    fs.cpSync(c.dataDir(b), backup, { recursive: true });
    c.start(b);
    const a = await leaderAmong(c, c.ids.filter((id) => id !== b));
    const lagging = c.ids.find((id) => id !== a && id !== b) as string;
    await waitFor(`${b} to follow ${a}`, 20_000, async () => ((await c.nodeStatus(b, 500).catch(() => null))?.leader === a ? true : undefined));
    // 1. `lagging` is cut off; a and b commit and release a prevote for a block at 5/0.
    net.partition([[lagging], [a, b]]);
    const firstVote = prevote(key.publicKey, 5n, BLOCK);
    const released = await c.sign(a, firstVote);
    expect(released.kind).toBe('signed');
    // b has durably reached the decision and noted so beside its config.
    const decided = (await c.nodeStatus(a, 1000)).commitIndex;
    await waitFor(`${b}'s high-water record to reach ${decided}`, 10_000, async () =>
      (readStoreHighWater(c.home(b))?.commit ?? 0) >= decided ? true : undefined,
    );
    // 2. b's data is put back from the copy (it forgets acknowledging that decision) while a
    // cannot reach it. It refuses to start.
    const code = await restartUnseen(c, net, a, b, () => {
      fs.rmSync(c.dataDir(b), { recursive: true, force: true });
      fs.cpSync(backup, c.dataDir(b), { recursive: true });
    });
    expect(code).toBe(1);
    expect(c.log(b)).toMatch(/is older than this node's own record of it/);
    expect(c.log(b)).toContain(`raft-signer cluster remove --id ${b}`);
    // 3, 4. Before the fix b voted, the lagging node led and signed the conflict; now nothing is.
    expect((await crashLeaderThenConflict(c, net, a, lagging)).kind).toBe('refused');
  }, 60_000);
});
