// A lost or replaced disk must never vote as the member it was, whatever order the operator does
// things in (the safety issue's item 1), on real 3-process clusters behind the fault proxies.
// Both scenarios signed two conflicting prevotes at 5/0 before members were named with their
// stores: the lagging node won an election with the new store's vote and signed a nil prevote
// where a block had been released.
//
// 1. b's data directory is lost and b is restarted with `join: true` (the rejoin procedure's flag,
//    left set from an earlier rejoin) before anyone ran `cluster remove`.
// 2. b's whole home is put back from a copy taken before its first start (the new-cluster marker is
//    back): it would found the cluster again with a new, empty store.

import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { FaultNetwork } from '../../src/chaos/fault_network';
import { ProcessCluster, waitFor } from '../../src/harness/process_cluster';
import { SignOutcome } from '../../src/cometbft/sign_types';
import { BLOCK, leaderAmong, NIL, prevote, proxiedCluster } from '../support/proxied_cluster';

const CHAIN = 'disk-chain';

/**
 * 1. `lagging` is cut off; a and b commit and release a prevote for a block at 5/0. 2. b is killed,
 * `change` is made to its home, and b is started while a cannot reach it. 3. a crashes, the links
 * heal. 4. A nil prevote at 5/0 through the lagging node: what it answers.
 */
async function lostDiskThenConflict(c: ProcessCluster, net: FaultNetwork, change: (b: string) => void): Promise<{ outcome: SignOutcome; b: string }> {
  const key = c.validatorKey();
  const a = await leaderAmong(c, c.ids);
  const [b, lagging] = c.ids.filter((id) => id !== a) as [string, string];
  net.partition([[lagging], [a, b]]);
  expect((await c.sign(a, prevote(CHAIN, key.publicKey, 5n, BLOCK))).kind).toBe('signed');
  await c.kill(b);
  change(b);
  net.setBlocked(a, b, true);
  net.setBlocked(b, a, true);
  c.start(b);
  // b is up (or has refused) before the leader goes.
  await waitFor(`${b} to answer or exit`, 20_000, async () =>
    !c.isRunning(b) || (await c.nodeStatus(b, 500).catch(() => null)) !== null || /waiting for founder/.test(c.log(b)) ? true : undefined,
  );
  await c.kill(a);
  net.heal({ cutHeld: true });
  return { outcome: await c.sign(lagging, prevote(CHAIN, key.publicKey, 5n, NIL)), b };
}

describe('a lost or replaced disk never votes as the member it was', () => {
  let cluster: ProcessCluster | undefined;
  let network: FaultNetwork | undefined;

  afterEach(async () => {
    await cluster?.destroy();
    await network?.close();
    cluster = undefined;
    network = undefined;
  });

  test('a wiped node restarted with join: true before `cluster remove` does not elect a lagging node', async () => {
    ({ cluster, network } = await proxiedCluster(CHAIN));
    const c = cluster;
    const { outcome, b } = await lostDiskThenConflict(c, network, (victim) => {
      fs.rmSync(c.dataDir(victim), { recursive: true, force: true });
      const file = path.join(c.home(victim), 'config.yaml');
      const cfg = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      cfg.join = true;
      fs.writeFileSync(file, YAML.stringify(cfg));
    });
    // b runs on its new store and is told it signs nothing; the lagging node could not count it.
    expect(c.isRunning(b)).toBe(true);
    expect(outcome.kind).toBe('refused');
    const st = await c.nodeStatus(b, 1000);
    expect(st.role).not.toBe('leader');
    expect(st.storeNamed).toBe(false);
    // `status` says so, in the operator's words.
    const other = c.ids.find((id) => id !== b && c.isRunning(id)) as string;
    const shown = await c.cli(['status', '--home', c.home(other)]);
    expect(shown.stdout).toMatch(new RegExp(`${b} runs on a store the membership does not name`));
    expect(shown.stdout).toMatch(new RegExp(`${b} .*${st.storeId.slice(0, 8)} \\(new\\)`));
  }, 90_000);

  test('a home put back from a copy taken before the first start does not found the cluster again', async () => {
    let copies: Map<string, string> | undefined;
    ({ cluster, network } = await proxiedCluster(CHAIN, (c) => {
      copies = new Map(c.ids.map((id) => [id, path.join(c.root, `image-${id}`)]));
      for (const id of c.ids) fs.cpSync(c.home(id), copies.get(id) as string, { recursive: true });
    }));
    const c = cluster;
    const { outcome, b } = await lostDiskThenConflict(c, network, (victim) => {
      fs.rmSync(c.home(victim), { recursive: true, force: true });
      fs.cpSync(copies?.get(victim) as string, c.home(victim), { recursive: true });
    });
    expect(outcome.kind).toBe('refused');
    // Once it hears from a founder, it refuses for good and says how to rejoin.
    await waitFor(`${b} to refuse`, 20_000, async () => (c.isRunning(b) ? undefined : true));
    expect(c.log(b)).toMatch(/already founded .* with another store of node\d/);
    expect(c.log(b)).toContain(`cluster remove --id ${b} --home ${c.home(b)}`);
  }, 90_000);
});
