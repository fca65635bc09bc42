// State import and export against a 3-node cluster of real `raft-signer start` processes: what a
// crafted import through the Admin service, or a bad state file through the CLI, can and cannot do
// to the slashing record (nothing is signed at read time; the log carries only verified imports),
// the confirmation a far jump of the watermark asks for, the formats `--from` reads, and an
// export right after a leader crash. Runs the built CLI (build first).

import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { verifyEd25519 } from '../../src/keys/validator_key';
import { ProcessCluster, waitFor } from '../../src/harness/process_cluster';
import { ChainStateView, ImportStateRequestView } from '../../src/transport/admin_views';
import { fetchChainState, sendImportState } from '../../src/transport/admin_client';
import { adminErrorOf } from '../../src/transport/admin_errors';
import { SignOutcome, SignRequest } from '../../src/cometbft/sign_types';
import { clusterChannelCredentials } from '../../src/transport/grpc_server';
import { voteRequest } from '../support/sign_requests';

const CHAIN = 'test-chain';

describe('state import and export through a 3-node cluster of real processes', () => {
  let cluster: ProcessCluster;
  let pubKey: Uint8Array;
  let credentials: (id: string) => grpc.ChannelCredentials;
  let height = 100;
  /** Every signature that left the cluster in this file, by "height/round/step": never two. */
  const released = new Map<string, Set<string>>();

  const vote = (h: number, block: string, type: 'prevote' | 'precommit' = 'prevote', round = 0): SignRequest =>
    voteRequest(CHAIN, pubKey, { height: h, round, type, block });

  function noteRelease(hrs: string, signature: Uint8Array): void {
    const set = released.get(hrs) ?? new Set<string>();
    set.add(Buffer.from(signature).toString('hex'));
    released.set(hrs, set);
  }

  async function signEventually(via: string, request: SignRequest): Promise<SignOutcome> {
    const o = await waitFor(`an answer through ${via}`, 20_000, async () => {
      const outcome = await cluster.sign(via, request).catch((e: Error): SignOutcome => ({ kind: 'refused', reason: 'node-stopped', message: e.message }));
      return outcome.kind === 'refused' && ['deadline', 'no-leader', 'node-stopped'].includes(outcome.reason) ? undefined : outcome;
    });
    if (o.kind !== 'refused') noteRelease(`${request.height}/${request.round}/${request.step}`, o.signature);
    return o;
  }

  function address(id: string): string {
    const n = cluster.testnet.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n.address;
  }

  /** ChainState of one node, straight over gRPC (as any admin client can ask). */
  function chainState(id: string): Promise<ChainStateView | null> {
    return fetchChainState(address(id), credentials(id), id, CHAIN, 3000);
  }

  /** ImportState straight over gRPC with the admin client certificate: no CLI check in the way. */
  function directImport(id: string, request: Omit<ImportStateRequestView, 'chainId' | 'pubKey'>): Promise<{ imported: boolean; message: string }> {
    return sendImportState(address(id), credentials(id), id, { chainId: CHAIN, pubKey, ...request }, 5000);
  }

  /** The answer or the error of a call, to check what the cluster holds before judging the answer. */
  function settle<T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> {
    return p.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
  }

  function stateFile(name: string, content: unknown): string {
    const file = path.join(cluster.root, name);
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content), { mode: 0o600 });
    return file;
  }

  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return cluster.cli(args, 30_000);
  }

  async function shown(via: string): Promise<{ height: string; round: number; step: number }> {
    const r = await cli(['state', 'show', '--home', cluster.home(via), '--chain-id', CHAIN, '--json']);
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { height: string; round: number; step: number };
  }

  /** Every signature any node's ChainState returns must be one the sign path released for that HRS. */
  async function expectNoSignatureBeyondReleases(over: Uint8Array[]): Promise<void> {
    for (const id of cluster.ids.filter((i) => cluster.isRunning(i))) {
      const s = await chainState(id);
      if (!s || s.signature.length === 0) continue;
      for (const bytes of over) expect(verifyEd25519(pubKey, bytes, s.signature)).toBe(false);
    }
  }

  beforeAll(async () => {
    cluster = await ProcessCluster.create({ nodes: 3, chainId: CHAIN });
    pubKey = cluster.validatorKey().publicKey;
    const tls = {
      ca: fs.readFileSync(cluster.testnet.adminCaFile, 'utf8'),
      cert: fs.readFileSync(cluster.testnet.adminCertFile, 'utf8'),
      key: fs.readFileSync(cluster.testnet.adminKeyFile, 'utf8'),
    };
    credentials = (id) => clusterChannelCredentials(tls, id, 'client');
    cluster.startAll();
    await cluster.waitForLeader();
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  afterEach(() => {
    for (const [hrs, set] of released) if (set.size > 1) throw new Error(`two different signatures released for ${hrs}`);
  });

  test('a direct ImportState of sign bytes without a signature (a nil prevote at an HRS signed for a block) is refused, and ChainState signs nothing', async () => {
    const leader = await cluster.waitForLeader();
    const h = height++;
    const signed = await signEventually(leader, vote(h, 'A'));
    expect(signed.kind).toBe('signed');
    // The record says a later HRS, the bytes are a nil prevote at the HRS just signed for block A.
    const nil = vote(h, 'nil').signBytes;
    const attempt = await settle(directImport(leader, { height: BigInt(h + 5), round: 0, step: 2, signBytes: nil, signature: new Uint8Array(0) }));
    // Before the fix: imported, and every node's ChainState then signed the nil prevote.
    await expectNoSignatureBeyondReleases([nil]);
    expect(attempt).toMatchObject({ error: { code: grpc.status.INVALID_ARGUMENT } });
    const refusal = adminErrorOf('error' in attempt ? attempt.error : null);
    expect(refusal?.code).toBe('invalid-request');
    expect(refusal?.message).toMatch(/no signature/);
    const s = await chainState(leader);
    expect(s?.height).toBe(BigInt(h));
    if (signed.kind === 'signed') expect(Buffer.from(s?.signature ?? [])).toEqual(Buffer.from(signed.signature));
  });

  test('a direct ImportState of arbitrary bytes is refused, and ChainState signs nothing', async () => {
    const leader = await cluster.waitForLeader();
    const h = height++;
    await signEventually(leader, vote(h, 'A', 'precommit'));
    const bytes = Uint8Array.from(Buffer.from('any bytes at all, to be signed with the validator key'));
    const attempt = await settle(directImport(leader, { height: BigInt(h + 10), round: 0, step: 3, signBytes: bytes, signature: new Uint8Array(0) }));
    await expectNoSignatureBeyondReleases([bytes]);
    expect(attempt).toMatchObject({ error: { code: grpc.status.INVALID_ARGUMENT } });
    expect((await chainState(leader))?.height).toBe(BigInt(h));
    // Sent to a follower it is refused the same way (checked before any redirect matters).
    const follower = cluster.ids.find((id) => id !== leader) as string;
    await expect(directImport(follower, { height: BigInt(h + 10), round: 0, step: 3, signBytes: bytes, signature: new Uint8Array(0) })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
    });
  });

  test('a state file whose sign bytes name another chain is refused, with the reason', async () => {
    const leader = await cluster.waitForLeader();
    const h = height++;
    await signEventually(leader, vote(h, 'A', 'precommit'));
    const other = voteRequest('another-chain', pubKey, { height: h + 3, type: 'precommit', block: 'B' });
    const file = stateFile('other-chain.json', {
      height: String(h + 3),
      round: 0,
      step: 3,
      signature: Buffer.from(cluster.validatorKey().sign(other.signBytes)).toString('base64'),
      signbytes: Buffer.from(other.signBytes).toString('hex').toUpperCase(),
    });
    const r = await cli(['state', 'import', '--home', cluster.home(leader), '--chain-id', CHAIN, '--file', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*another-chain/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await shown(leader)).height).toBe(String(h));
  });

  test('a state file whose height was edited after signing is refused', async () => {
    const leader = await cluster.waitForLeader();
    const h = height++;
    await signEventually(leader, vote(h, 'A', 'precommit'));
    const real = vote(h + 20, 'B', 'precommit');
    const file = stateFile('edited.json', {
      height: String(h + 25),
      round: 0,
      step: 3,
      signature: Buffer.from(cluster.validatorKey().sign(real.signBytes)).toString('base64'),
      signbytes: Buffer.from(real.signBytes).toString('hex').toUpperCase(),
    });
    const r = await cli(['state', 'import', '--home', cluster.home(leader), '--chain-id', CHAIN, '--file', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*height/);
    expect((await shown(leader)).height).toBe(String(h));
  });

  test('a jump far above the current record asks for --yes and says how far; int64 max too', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader) as string;
    const h = height++;
    await signEventually(leader, vote(h, 'A', 'precommit'));
    const far = stateFile('far.json', { height: String(h + 1_000_000), round: 0, step: 3 });
    const refused = await cli(['state', 'import', '--home', cluster.home(follower), '--chain-id', CHAIN, '--file', far]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: .*1000000 heights.*--yes/);
    expect((await shown(leader)).height).toBe(String(h));

    const max = stateFile('max.json', { height: '9223372036854775807', round: 0, step: 3 });
    const refusedMax = await cli(['state', 'import', '--home', cluster.home(follower), '--chain-id', CHAIN, '--file', max]);
    expect(refusedMax.code).toBe(1);
    expect(refusedMax.stderr).toMatch(/--yes/);

    const over = stateFile('over.json', { height: '9223372036854775808', round: 0, step: 3 });
    const overflow = await cli(['state', 'import', '--home', cluster.home(follower), '--chain-id', CHAIN, '--file', over, '--yes']);
    expect(overflow.code).toBe(1);
    expect(overflow.stderr).toMatch(/^error: .*int64/);

    const near = stateFile('near.json', { height: String(h + 1000), round: 0, step: 2 });
    const ok = await cli(['state', 'import', '--home', cluster.home(follower), '--chain-id', CHAIN, '--file', near]);
    expect(ok.stdout).toMatch(/^imported through leader node\d: watermark raised to/);
    const confirmed = await cli(['state', 'import', '--home', cluster.home(follower), '--chain-id', CHAIN, '--file', far, '--yes']);
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout).toMatch(/^imported through leader node\d: watermark raised to/);
    expect(await shown(follower)).toMatchObject({ height: String(h + 1_000_000), round: 0, step: 3 });
    // HRS-only: that exact HRS is refused (no sign bytes to compare), the next height signs.
    expect(await signEventually(leader, vote(h + 1_000_000, 'A', 'precommit'))).toMatchObject({ kind: 'refused', reason: 'conflicting-data' });
    height = h + 1_000_001;
    expect((await signEventually(leader, vote(height++, 'A'))).kind).toBe('signed');
  });

  test('--from tmkms converts TMKMS steps (precommit 2 is FilePV 3); --from horcrux reads its sign state', async () => {
    const leader = await cluster.waitForLeader();
    const h = height;
    height += 20;
    const tmkms = stateFile('tmkms_state.json', `{"height":"${h}","round":"1","step":2,"block_id":{"hash":"${'AB'.repeat(32)}","parts":{"total":1,"hash":"${'CD'.repeat(32)}"}}}`);
    const r = await cli(['state', 'import', '--home', cluster.home(leader), '--chain-id', CHAIN, '--from', 'tmkms', '--file', tmkms]);
    expect(r.stdout).toMatch(/^imported through leader node\d: watermark raised to/);
    expect(await shown(leader)).toMatchObject({ height: String(h), round: 1, step: 3 });
    // TMKMS may have signed this precommit: it is refused, never re-signed.
    expect(await signEventually(leader, vote(h, 'A', 'precommit', 1))).toMatchObject({ kind: 'refused' });

    const signedByHorcrux = vote(h + 5, 'C', 'prevote', 0);
    const horcrux = stateFile(`${CHAIN}_priv_validator_state.json`, {
      height: String(h + 5),
      round: '0',
      step: 2,
      nonce_public: null,
      signature: Buffer.from(cluster.validatorKey().sign(signedByHorcrux.signBytes)).toString('base64'),
      signbytes: Buffer.from(signedByHorcrux.signBytes).toString('hex').toUpperCase(),
    });
    const hr = await cli(['state', 'import', '--home', cluster.home(leader), '--chain-id', CHAIN, '--from', 'horcrux', '--file', horcrux]);
    expect(hr.stdout).toMatch(/^imported through leader node\d: watermark raised to/);
    // The same prevote again: the stored signature, identical to Horcrux's.
    const again = await signEventually(leader, signedByHorcrux);
    expect(again.kind).toBe('signed');
    if (again.kind === 'signed') expect(verifyEd25519(pubKey, signedByHorcrux.signBytes, again.signature)).toBe(true);
  });

  test('export right after a leader crash includes the last signature the crashed leader released', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader) as string;
    const h = height++;
    const last = await signEventually(leader, vote(h, 'Z', 'precommit'));
    expect(last.kind).toBe('signed');
    await cluster.kill(leader);
    const exported = await cli(['state', 'export', '--home', cluster.home(follower), '--chain-id', CHAIN]);
    expect(exported.stderr).toBe('');
    const json = JSON.parse(exported.stdout) as { height: string; step: number; signature: string; signbytes: string };
    expect(json).toMatchObject({ height: String(h), step: 3 });
    if (last.kind === 'signed') expect(Buffer.from(json.signature, 'base64')).toEqual(Buffer.from(last.signature));
    cluster.start(leader);
    await cluster.waitForLeader();
  });
});
