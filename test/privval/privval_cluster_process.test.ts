// The product as a validator operator runs it: `testnet` + three `raft-signer start` processes,
// each dialling its validator node (here a stand-in listening like CometBFT: two over unix
// sockets, one over tcp with SecretConnection), while the stand-ins drive heights with
// per-stand-in timestamps and seeded disagreement, and the leader is killed and restarted. Every
// signature is checked against sign bytes the stand-ins compute themselves, and no height, round
// and step ever gets two conflicting signatures. Runs the built CLI (npm test builds first).

import { findFreePorts } from '../../src/testnet/testnet';
import { ProcessCluster, waitFor } from '../../src/harness/process_cluster';
import { HeightDriver, HeightResult } from '../../src/standin/height_driver';
import { findConflicts } from '../../src/standin/sign_history';
import { ValidatorStandin } from '../../src/standin/validator_standin';

const CHAIN = 'privval-chain';

describe('three raft-signer processes serving three validator-node stand-ins', () => {
  let cluster: ProcessCluster;
  const standins: ValidatorStandin[] = [];

  beforeAll(async () => {
    const [tcpPort] = await findFreePorts(1);
    cluster = await ProcessCluster.create({
      nodes: 3,
      chainId: CHAIN,
      configure: (cfg, id) => {
        if (id !== 'node2') return;
        const chains = cfg.chains as { validatorAddrs: string[] }[];
        chains[0].validatorAddrs = [`tcp://127.0.0.1:${tcpPort}`];
      },
    });
    for (const [i, n] of cluster.testnet.nodes.entries()) {
      const address = i === 2 ? `tcp://127.0.0.1:${tcpPort}` : n.validatorAddr;
      standins.push(await ValidatorStandin.listen({ address, name: `val${i}`, pingIntervalMs: 1000 }));
    }
    cluster.startAll();
    await Promise.all(standins.map((s) => s.waitConnected(20_000)));
    await cluster.waitForLeader();
  });

  afterAll(async () => {
    await Promise.all(standins.map((s) => s.close()));
    await cluster?.destroy();
  });

  test('every node answers its validator node locally and through the log', async () => {
    const key = cluster.validatorKey();
    for (const s of standins) {
      const r = await s.pubKey(CHAIN);
      expect(r.error).toBeNull();
      expect(Buffer.from(r.pubKey?.bytes ?? [])).toEqual(Buffer.from(key.publicKey));
      await s.ping();
      const unknown = await s.pubKey('no-such-chain');
      expect(unknown.error?.description).toMatch(/no-such-chain/);
    }
    // The tcp stand-in really went through SecretConnection with the node's persistent identity.
    expect(standins[2].signerNodeId).toMatch(/^[0-9a-f]{40}$/);
  });

  test('heights keep being signed through a leader kill, with no conflicting signature and no unanswered request', async () => {
    const results: HeightResult[] = [];
    const driver = new HeightDriver({
      chainId: CHAIN,
      standins,
      blockTimeMs: 20,
      disagreementRate: 0.3,
      seed: 42,
      requestTimeoutMs: 5000,
      onHeight: (r) => results.push(r),
    });
    let victimIndex = -1;
    /** When the victim's stand-in was without its signer: its misses there are expected. */
    let downFrom = Infinity;
    let downUntil = Infinity;
    driver.start();
    try {
      await waitFor('10 heights', 30_000, async () => (results.length >= 10 ? true : undefined));
      const leader = await cluster.waitForLeader();
      victimIndex = cluster.ids.indexOf(leader);
      downFrom = Date.now();
      await cluster.kill(leader);
      await waitFor('heights signed after the kill', 30_000, async () =>
        results.filter((r) => r.startedAt > downFrom && r.fullySigned).length >= 10 ? true : undefined,
      );
      cluster.start(leader);
      await standins[victimIndex].waitConnected(20_000);
      downUntil = Date.now();
      await waitFor('heights signed through the restarted node', 30_000, async () =>
        results.some((r) => r.startedAt > downUntil && r.requests.some((q) => q.standin === `val${victimIndex}` && q.outcome === 'signed'))
          ? true
          : undefined,
      );
    } finally {
      await driver.stop();
    }

    // Safety: no two conflicting signatures for any height/round/step, and every one verifies.
    expect(findConflicts(standins.map((s) => s.history))).toEqual([]);
    for (const s of standins) {
      expect(s.history.verify().failures).toEqual([]);
      expect(s.protocolErrors).toEqual([]);
    }
    // Disagreement happened, and the losers were refused, not signed.
    expect(results.flatMap((r) => r.requests).filter((q) => q.outcome === 'refused').length).toBeGreaterThan(0);
    // Every request from a stand-in whose node was up got an answer within the node's deadline.
    const unanswered = results
      .flatMap((r) => r.requests)
      .filter((q) => q.outcome === 'error' && !(q.standin === `val${victimIndex}` && q.startedAt >= downFrom - 5000 && q.startedAt <= downUntil));
    expect(unanswered).toEqual([]);
    // Liveness while a majority was up: most heights got all three signatures.
    const partial = results.filter((r) => !r.fullySigned);
    expect(partial.length / results.length).toBeLessThan(0.2);
  });

  test('the signer keeps its SecretConnection identity across a restart', async () => {
    const before = standins[2].signerNodeId;
    const connections = standins[2].connectionCount;
    expect(await cluster.stop('node2')).toBe(0);
    cluster.start('node2');
    await waitFor('node2 to dial its validator node again', 20_000, async () =>
      standins[2].connectionCount > connections && standins[2].connected ? true : undefined,
    );
    expect(standins[2].signerNodeId).toBe(before);
  });
});
