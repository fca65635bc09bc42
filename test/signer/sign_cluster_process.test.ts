// The sign path end to end with real `raft-signer start` processes: requests sent through the
// Signer service of any node, conflicts refused, signing across a leader kill, and the failure
// cases the one rule exists for: a leader killed between commit and release, a follower killed
// while forwarding, a node restored from an old copy of its data directory, and a lagging node
// behind compaction asked for an old height. Runs the built CLI (npm test builds first).

import fs from 'node:fs';
import path from 'node:path';
import { verifyEd25519 } from '../../src/keys/validator_key';
import { ProcessCluster, waitFor } from '../../src/harness/process_cluster';
import { storeHighWaterPath } from '../../src/node/store_high_water';
import { SignOutcome, SignRequest } from '../../src/cometbft/sign_types';
import { proposalRequest, voteRequest } from '../support/sign_requests';

const CHAIN = 'test-chain';

function signatureOf(o: SignOutcome): Uint8Array {
  if (o.kind === 'refused') throw new Error(`expected a signature, got a refusal (${o.reason}): ${o.message}`);
  return o.signature;
}

describe('signing through a 3-node cluster of real processes', () => {
  let cluster: ProcessCluster;
  let pubKey: Uint8Array;
  let height = 100;
  /** Every signature released in this file, by "height/round/step": they must never conflict. */
  const released = new Map<string, { signBytes: Buffer; signature: Buffer }[]>();

  const vote = (h: number, block: string, type: 'prevote' | 'precommit' = 'prevote', time?: number): SignRequest =>
    voteRequest(CHAIN, pubKey, { height: h, type, block, time });

  /** Signs through `via`, retrying a transient refusal (no leader yet), and records what was released. */
  async function sign(via: string, request: SignRequest): Promise<SignOutcome> {
    // A node that is down answers nothing: to the caller that is a refusal like any other.
    const outcome = await cluster.sign(via, request).catch(
      (e: Error): SignOutcome => ({ kind: 'refused', reason: 'node-stopped', message: e.message }),
    );
    if (outcome.kind !== 'refused') {
      expect(verifyEd25519(pubKey, request.signBytes, outcome.signature) || outcome.kind === 'signed-with-stored-timestamp').toBe(true);
      const key = `${request.height}/${request.round}/${request.step}`;
      const list = released.get(key) ?? [];
      list.push({ signBytes: Buffer.from(request.signBytes), signature: Buffer.from(outcome.signature) });
      released.set(key, list);
    }
    return outcome;
  }

  async function signEventually(via: string, request: SignRequest): Promise<SignOutcome> {
    return waitFor(`a signature through ${via}`, 20_000, async () => {
      const o = await sign(via, request);
      return o.kind === 'refused' && ['deadline', 'no-leader', 'node-stopped'].includes(o.reason) ? undefined : o;
    });
  }

  beforeAll(async () => {
    cluster = await ProcessCluster.create({
      nodes: 3,
      chainId: CHAIN,
      // Compact often so that a lagging node has to catch up by snapshot.
      configure: (cfg) => {
        cfg.raft = { ...((cfg.raft as object) ?? {}), snapshotEntries: 8 };
      },
    });
    pubKey = cluster.validatorKey().publicKey;
    cluster.startAll();
    await cluster.waitForLeader();
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  afterEach(() => {
    // The safety property of the whole file: one HRS, one signed message (timestamps aside, and
    // then with the stored signature).
    for (const [hrs, list] of released) {
      const distinct = new Set(list.map((r) => r.signature.toString('hex')));
      if (distinct.size > 1) throw new Error(`two different signatures released for ${hrs}`);
    }
  });

  test('signs through leader and followers alike, refuses conflicts, and answers repeats with the stored signature', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader) as string;
    const other = cluster.ids.find((id) => id !== leader && id !== follower) as string;
    const h = height++;

    const first = await signEventually(follower, vote(h, 'A', 'prevote', 1000));
    expect(first.kind).toBe('signed');
    const again = await sign(leader, vote(h, 'A', 'prevote', 1000));
    expect(Buffer.from(signatureOf(again))).toEqual(Buffer.from(signatureOf(first)));

    const nil = await sign(other, vote(h, 'nil', 'prevote', 1000));
    expect(nil).toMatchObject({ kind: 'refused', reason: 'conflicting-data' });
    const otherBlock = await sign(follower, vote(h, 'B', 'prevote', 1000));
    expect(otherBlock).toMatchObject({ kind: 'refused', reason: 'conflicting-data' });

    const laterTime = await sign(other, vote(h, 'A', 'prevote', 1005));
    expect(laterTime.kind).toBe('signed-with-stored-timestamp');
    if (laterTime.kind === 'signed-with-stored-timestamp') {
      expect(laterTime.timestamp.seconds).toBe(1000n);
      expect(Buffer.from(laterTime.signature)).toEqual(Buffer.from(signatureOf(first)));
    }

    expect((await sign(leader, vote(h, 'A', 'precommit'))).kind).toBe('signed');
    expect(await sign(follower, vote(h, 'A', 'prevote', 1000))).toMatchObject({ kind: 'refused', reason: 'step-regression' });
    expect(await sign(follower, proposalRequest(CHAIN, pubKey, { height: h - 1, block: 'A' }))).toMatchObject({
      kind: 'refused',
      reason: 'height-regression',
    });

    const status = await cluster.status(other);
    expect(status.chains).toEqual([{ chainId: CHAIN, pubKey: Buffer.from(pubKey).toString('hex'), height: String(h), round: 0, step: 3 }]);
  });

  test('refuses a chain it does not serve and a key it does not hold', async () => {
    const leader = await cluster.waitForLeader();
    expect(await sign(leader, voteRequest('other-chain', pubKey, { height: 1, type: 'prevote', block: 'A' }))).toMatchObject({
      kind: 'refused',
      reason: 'unknown-chain',
    });
    expect(await sign(leader, voteRequest(CHAIN, new Uint8Array(32).fill(7), { height: 1, type: 'prevote', block: 'A' }))).toMatchObject({
      kind: 'refused',
      reason: 'wrong-key',
    });
  });

  test('keeps signing across a leader kill, and the killed node agrees after restart', async () => {
    const leader = await cluster.waitForLeader();
    const survivors = cluster.ids.filter((id) => id !== leader);
    const h = height++;
    await signEventually(survivors[0], vote(h, 'A'));
    await cluster.kill(leader);
    const after = await signEventually(survivors[1], vote(h, 'A', 'precommit'));
    expect(after.kind).toBe('signed');
    const h2 = height++;
    expect((await signEventually(survivors[0], vote(h2, 'C'))).kind).toBe('signed');

    cluster.start(leader);
    await cluster.waitForLeader();
    // The restarted node answers from the log: the same signature, and the conflict refused.
    const repeat = await signEventually(leader, vote(h2, 'C'));
    expect(repeat.kind).toBe('signed');
    expect(await sign(leader, vote(h2, 'nil'))).toMatchObject({ kind: 'refused', reason: 'conflicting-data' });
  });

  /** Fires conflicting pairs at two nodes while `victim` is SIGKILLed mid-flight; returns the heights used. */
  async function burstWithKill(victim: string, via: string[], count: number): Promise<number[]> {
    const heights = Array.from({ length: count }, () => height++);
    const inflight = heights.flatMap((h) => [sign(via[0], vote(h, 'A')), sign(via[1], vote(h, 'B'))]);
    await new Promise((r) => setTimeout(r, 5));
    await cluster.kill(victim);
    const outcomes = await Promise.all(inflight);
    // For each height at most one of A and B was signed.
    for (let i = 0; i < heights.length; i++) {
      const [a, b] = [outcomes[2 * i], outcomes[2 * i + 1]];
      expect(a.kind !== 'refused' && b.kind !== 'refused').toBe(false);
    }
    return heights;
  }

  /**
   * Asks for both versions of the burst's last height through `via`: whatever the log decided (A,
   * B, or neither yet, then the first asked wins), exactly one is signed, and afterEach checks it is
   * the one released during the burst, if any. Earlier heights are below the watermark by now.
   */
  async function expectLogDecidesOnce(via: string, heights: number[]): Promise<void> {
    const last = heights[heights.length - 1];
    const a = await signEventually(via, vote(last, 'A'));
    const b = await signEventually(via, vote(last, 'B'));
    expect([a.kind, b.kind].filter((k) => k !== 'refused')).toHaveLength(1);
    expect(await signEventually(via, vote(heights[0], 'nil'))).toMatchObject({ kind: 'refused' });
  }

  test('a leader killed between commit and release: nothing conflicting is ever released, and the log decides', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader) as string;
    const heights = await burstWithKill(leader, [leader, follower], 30);
    await cluster.waitForLeader(cluster.ids.filter((id) => id !== leader));
    await expectLogDecidesOnce(follower, heights);
    cluster.start(leader);
    await cluster.waitForLeader();
  });

  test('a follower killed while forwarding: the cluster goes on and its requests are decided once', async () => {
    const leader = await cluster.waitForLeader();
    const [f1, f2] = cluster.ids.filter((id) => id !== leader);
    const heights = await burstWithKill(f1, [f1, f2], 30);
    await expectLogDecidesOnce(f2, heights);
    cluster.start(f1);
    await cluster.waitForLeader();
  });

  // A restored data directory alone is refused at start (store_high_water.ts, test/chaos/
  // regressions.test.ts). Restoring the whole home, record included, gets past that check; the
  // sign path must still never release from the old state.
  test('a node whose whole home was restored from an old copy catches up before it releases anything', async () => {
    const leader = await cluster.waitForLeader();
    const victim = cluster.ids.find((id) => id !== leader) as string;
    const dataDir = path.join(cluster.home(victim), 'data');
    const record = storeHighWaterPath(cluster.home(victim));
    const backup = path.join(cluster.root, 'old-backup');
    expect(await cluster.stop(victim)).toBe(0);
    fs.cpSync(dataDir, backup, { recursive: true });
    fs.copyFileSync(record, `${backup}.high-water`);
    cluster.start(victim);
    await cluster.waitForLeader();

    // Signed after the backup was taken: the restored node's old record knows nothing of these.
    const later = Array.from({ length: 20 }, () => height++);
    for (const h of later) expect((await signEventually(leader, vote(h, 'A'))).kind).toBe('signed');

    await cluster.kill(victim);
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.cpSync(backup, dataDir, { recursive: true });
    fs.copyFileSync(`${backup}.high-water`, record);
    cluster.start(victim);
    // At once, before it can have caught up: a conflicting vote for the last height signed is
    // refused as conflicting, and every earlier one as below the watermark.
    const last = later[later.length - 1];
    expect(await signEventually(victim, vote(last, 'nil'))).toMatchObject({ kind: 'refused', reason: 'conflicting-data' });
    for (const h of later.slice(0, -1)) {
      expect(await signEventually(victim, vote(h, 'nil'))).toMatchObject({ kind: 'refused', reason: 'height-regression' });
    }
    const repeat = await signEventually(victim, vote(later[later.length - 1], 'A'));
    expect(repeat.kind).toBe('signed');
  });

  test('a lagging node behind compaction refuses an old height', async () => {
    const leader = await cluster.waitForLeader();
    const victim = cluster.ids.find((id) => id !== leader) as string;
    expect(await cluster.stop(victim)).toBe(0);
    const old = height++;
    await signEventually(leader, vote(old, 'A', 'precommit'));
    // Enough entries to compact the log several times past the point the victim has.
    for (let i = 0; i < 30; i++) await signEventually(leader, vote(height++, 'A'));
    cluster.start(victim);
    const o = await signEventually(victim, vote(old, 'B', 'precommit'));
    expect(o).toMatchObject({ kind: 'refused' });
    if (o.kind === 'refused') expect(['conflicting-data', 'height-regression']).toContain(o.reason);
    expect(await signEventually(victim, vote(old, 'A', 'prevote'))).toMatchObject({ kind: 'refused', reason: 'height-regression' });
    await waitFor('the lagging node to restore a snapshot', 10_000, async () =>
      /restored a snapshot from the leader/.test(cluster.log(victim)) ? true : undefined,
    );
  });

  test('state export, import and show: an imported state only raises the watermark', async () => {
    const leader = await cluster.waitForLeader();
    const via = cluster.home(cluster.ids.find((id) => id !== leader) as string);
    const h = height++;
    const signed = await signEventually(leader, vote(h, 'A', 'precommit'));

    const exported = await cluster.cli(['state', 'export', '--home', via, '--chain-id', CHAIN]);
    expect(exported.code).toBe(0);
    const json = JSON.parse(exported.stdout) as { height: string; round: number; step: number; signature: string; signbytes: string };
    expect(json).toMatchObject({ height: String(h), round: 0, step: 3 });
    expect(Buffer.from(json.signature, 'base64')).toEqual(Buffer.from(signatureOf(signed)));
    expect(json.signbytes).toBe(Buffer.from(vote(h, 'A', 'precommit').signBytes).toString('hex').toUpperCase());

    // A state from a FilePV validator that got further: imported, and everything below it refused.
    const file = path.join(cluster.root, 'priv_validator_state.json');
    const higher = h + 1000;
    fs.writeFileSync(file, JSON.stringify({ height: String(higher), round: 2, step: 2 }), { mode: 0o600 });
    const imported = await cluster.cli(['state', 'import', '--home', via, '--chain-id', CHAIN, '--file', file]);
    expect(imported.stdout).toMatch(/^imported through leader node\d: watermark raised to/);
    expect(await signEventually(leader, vote(higher, 'A', 'prevote', undefined))).toMatchObject({ kind: 'refused', reason: 'round-regression' });
    expect((await signEventually(leader, voteRequest(CHAIN, pubKey, { height: higher, round: 2, type: 'precommit', block: 'A' }))).kind).toBe('signed');
    height = higher + 1;

    // Importing something lower changes nothing.
    fs.writeFileSync(file, JSON.stringify({ height: String(h), round: 0, step: 1 }), { mode: 0o600 });
    const lower = await cluster.cli(['state', 'import', '--home', via, '--chain-id', CHAIN, '--file', file]);
    expect(lower.code).toBe(0);
    expect(lower.stdout).toMatch(/^not imported .*the watermark only rises/);
    const shown = await cluster.cli(['state', 'show', '--home', via, '--chain-id', CHAIN, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ chainId: CHAIN, height: String(higher), round: 2, step: 3 });

    // A state file signed by another key is refused before anything is sent.
    const foreign = { height: String(higher + 5), round: 0, step: 3, signature: Buffer.alloc(64, 1).toString('base64'), signbytes: 'AB' };
    fs.writeFileSync(file, JSON.stringify(foreign), { mode: 0o600 });
    const refusedImport = await cluster.cli(['state', 'import', '--home', via, '--chain-id', CHAIN, '--file', file]);
    expect(refusedImport.code).toBe(1);
    expect(refusedImport.stderr).toMatch(/^error: .*does not verify/);
  });

  test('a request forwarded to a frozen leader goes to the next leader instead of waiting out the deadline', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader) as string;
    expect((await signEventually(follower, vote(height++, 'A'))).kind).toBe('signed');
    // A long GC pause or a frozen VM: the follower still believes in it when the request arrives.
    await cluster.signal(leader, 'SIGSTOP');
    try {
      const outcome = await sign(follower, vote(height++, 'A'));
      expect(outcome.kind).toBe('signed');
    } finally {
      await cluster.signal(leader, 'SIGCONT');
    }
    await cluster.waitForLeader();
  });
});
