// The dialer against the validator stand-in, over unix sockets and over tcp with SecretConnection
// (unpinned, pinned, wrongly pinned, and a stand-in that pins the signer): it connects, serves,
// redials after a dropped connection and after a restart on the same address, backs off instead
// of spinning, logs repeated failures once, and close() leaves nothing running.

import { generateKeyPairSync } from 'node:crypto';
import * as net from 'node:net';
import path from 'node:path';

import { ValidatorKey } from '../../src/keys/validator_key';
import { PrivvalAddressError } from '../../src/privval/node_id';
import { PrivvalDialers, PrivvalTargetConflictError, startPrivvalDialers } from '../../src/privval/privval_dialer';
import { PrivvalRequestEvent, RemoteSignerErrorCode } from '../../src/privval/privval_session';
import { SignerIdentity } from '../../src/privval/signer_identity';
import { ValidatorStandin, ValidatorStandinOptions } from '../../src/standin/validator_standin';
import { findConflicts } from '../../src/standin/sign_history';
import { SignedMsgType } from '../../src/cometbft/messages';
import { FakeSignPath, LogLine, captureLogger, eventually, makeProposal, makeVote, tempDir } from './privval_fixtures';

const CHAIN = 'dial-chain';
const key = ValidatorKey.fromSeed(new Uint8Array(32).fill(5));
const identity = SignerIdentity.fromSeed(new Uint8Array(32).fill(6));

const tmp = tempDir('rs-dialer-');
afterAll(() => tmp.remove());

// Everything a test starts is closed after it, even when it fails.
const dialers: PrivvalDialers[] = [];
const standins: ValidatorStandin[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(dialers.splice(0).map((d) => d.close()));
  await Promise.all(standins.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

let socketSeq = 0;
function unixAddress(): string {
  return `unix://${path.join(tmp.dir, `v${++socketSeq}.sock`)}`;
}

async function standin(options: Partial<ValidatorStandinOptions> & { address: string }): Promise<ValidatorStandin> {
  const s = await ValidatorStandin.listen({ pingIntervalMs: 0, ...options });
  standins.push(s);
  return s;
}

interface Started {
  dialer: PrivvalDialers;
  signPath: FakeSignPath;
  lines: LogLine[];
  events: PrivvalRequestEvent[];
}

function dial(addresses: string[], extra: Partial<Parameters<typeof startPrivvalDialers>[0]> = {}): Started {
  const signPath = new FakeSignPath({ [CHAIN]: key });
  const { logger, lines } = captureLogger();
  const events: PrivvalRequestEvent[] = [];
  const dialer = startPrivvalDialers({
    targets: addresses.map((address) => ({ chainId: CHAIN, address })),
    signPath,
    identity,
    logger,
    observer: (e) => events.push(e),
    backoff: { initialMs: 10, maxMs: 50 },
    ...extra,
  });
  dialers.push(dialer);
  return { dialer, signPath, lines, events };
}

/** A full round: the key, a prevote and a precommit with its extension, all verified. */
async function exercise(s: ValidatorStandin, height: bigint): Promise<void> {
  const pub = await s.pubKey(CHAIN);
  expect(pub.error).toBeNull();
  expect(pub.pubKey?.bytes).toEqual(key.publicKey);
  await s.ping();
  const prevote = await s.signVote(CHAIN, makeVote({ height, type: SignedMsgType.Prevote }));
  expect(prevote.error).toBeNull();
  const precommit = await s.signVote(CHAIN, makeVote({ height, type: SignedMsgType.Precommit, extension: new Uint8Array([1]) }));
  expect(precommit.error).toBeNull();
  expect(s.history.verify().ok).toBe(true);
  expect(s.protocolErrors).toEqual([]);
}

describe('unix://', () => {
  it('connects, serves the stand-in, and reports status and events', async () => {
    const s = await standin({ address: unixAddress() });
    const { dialer, events, lines } = dial([s.address]);
    await s.waitConnected();
    await exercise(s, 5n);
    const [status] = dialer.status();
    expect(status).toEqual(
      expect.objectContaining({ address: s.address, chainIds: [CHAIN], connected: true, reconnects: 0, remoteNodeId: null }),
    );
    expect(events.map((e) => `${e.kind}:${e.outcome}`)).toEqual(['pubKey:answered', 'ping:answered', 'signVote:signed', 'signVote:signed']);
    expect(lines.some((l) => l.level === 'info' && /connected to the validator node/.test(l.message))).toBe(true);
  });

  it('redials after the stand-in drops the connection', async () => {
    const s = await standin({ address: unixAddress() });
    const { dialer } = dial([s.address]);
    await s.waitConnected();
    await exercise(s, 5n);
    s.dropConnection();
    await eventually(() => s.connected && s.connectionCount === 2, 'the second connection');
    await exercise(s, 6n);
    await eventually(() => dialer.status()[0]!.reconnects === 1, 'reconnects = 1 in status');
  });

  it('redials after the stand-in restarts on the same address', async () => {
    const address = unixAddress();
    const first = await standin({ address });
    const { dialer, lines } = dial([address]);
    await first.waitConnected();
    await exercise(first, 5n);
    await first.close();
    await eventually(() => !dialer.status()[0]!.connected, 'the dialer to notice');
    const second = await standin({ address });
    await second.waitConnected();
    await exercise(second, 6n);
    expect(findConflicts([first.history, second.history])).toEqual([]);
    expect(lines.some((l) => l.level === 'info' && /reconnected/.test(l.message))).toBe(true);
  });

  it('redials a connection that stays silent past idleTimeoutMs', async () => {
    const s = await standin({ address: unixAddress(), pingIntervalMs: 0 });
    dial([s.address], { idleTimeoutMs: 50 });
    await s.waitConnected();
    await eventually(() => s.connectionCount >= 2, 'a redial after the idle timeout');
  });

  it('backs off instead of spinning, and logs a repeated failure once', async () => {
    const address = unixAddress(); // nothing listens here
    const { dialer, lines } = dial([address], { backoff: { initialMs: 20, maxMs: 100 } });
    await eventually(() => dialer.status()[0]!.dialAttempts >= 3, 'a few attempts');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const attempts = dialer.status()[0]!.dialAttempts;
    // Without backoff a failing local connect loops thousands of times in 300 ms.
    expect(attempts).toBeLessThan(40);
    const warns = lines.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]!.message).toMatch(/cannot connect to .*is the validator node running/);
    expect(dialer.status()[0]!.lastError).toMatch(/ENOENT|ECONNREFUSED/);
    expect(dialer.status()[0]!.connected).toBe(false);
  });

  it('close() stops redialling and closes the connection', async () => {
    const s = await standin({ address: unixAddress() });
    const { dialer } = dial([s.address]);
    await s.waitConnected();
    await dialer.close();
    await eventually(() => !s.connected, 'the stand-in to see the close');
    const attempts = dialer.status()[0]!.dialAttempts;
    expect(dialer.status()[0]!.connected).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(dialer.status()[0]!.dialAttempts).toBe(attempts);
    expect(s.connectionCount).toBe(1);
    await dialer.close(); // idempotent
  });

  it('close() while the target is down ends the backoff sleep at once', async () => {
    const { dialer } = dial([unixAddress()], { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await eventually(() => dialer.status()[0]!.dialAttempts >= 1 && dialer.status()[0]!.lastError !== null, 'a failure');
    await dialer.close(); // would hang for a minute (and fail the test) if the sleep were not cut short
  });
});

describe('tcp:// with SecretConnection', () => {
  it('connects without a pin and both sides learn each other’s node id', async () => {
    const s = await standin({ address: 'tcp://127.0.0.1:0' });
    const { dialer } = dial([s.address]);
    await s.waitConnected();
    await exercise(s, 5n);
    expect(s.signerNodeId).toBe(identity.nodeId);
    expect(dialer.status()[0]!.remoteNodeId).toBe(s.nodeId);
  });

  it('connects to the pinned node', async () => {
    const s = await standin({ address: 'tcp://127.0.0.1:0' });
    dial([s.pinnedAddress]);
    await s.waitConnected();
    await exercise(s, 5n);
  });

  it('refuses a node that is not the pinned one, logs it once, and keeps trying', async () => {
    const s = await standin({ address: 'tcp://127.0.0.1:0' });
    const wrongId = 'ab'.repeat(20);
    const { dialer, lines, signPath } = dial([s.address.replace('tcp://', `tcp://${wrongId}@`)]);
    await eventually(() => dialer.status()[0]!.dialAttempts >= 3, 'several attempts');
    const status = dialer.status()[0]!;
    expect(status.connected).toBe(false);
    expect(status.lastError).toContain(`not as the pinned node ${wrongId}`);
    expect(status.lastError).toContain(s.nodeId);
    const refusals = lines.filter((l) => l.level === 'warn' && /refusing the validator node/.test(l.message));
    expect(refusals).toHaveLength(1);
    expect(signPath.signCalls).toHaveLength(0);
    expect(lines.some((l) => /connected to the validator node/.test(l.message))).toBe(false);
  });

  it('is served by a stand-in that pins the signer, and refused by one that pins someone else', async () => {
    const good = await standin({ address: 'tcp://127.0.0.1:0', expectedSignerNodeId: identity.nodeId });
    const bad = await standin({ address: 'tcp://127.0.0.1:0', expectedSignerNodeId: 'cd'.repeat(20) });
    dial([good.address, bad.address]);
    await good.waitConnected();
    await exercise(good, 5n);
    await eventually(() => bad.handshakeFailures >= 2, 'the pinning stand-in to refuse the signer twice');
    expect(bad.connectionCount).toBe(0);
  });

  it('redials after the stand-in restarts on the same port, with the same identity', async () => {
    const standinIdentity = generateKeyPairSync('ed25519').privateKey;
    const first = await standin({ address: 'tcp://127.0.0.1:0', identity: standinIdentity });
    const { dialer } = dial([first.pinnedAddress]);
    await first.waitConnected();
    await exercise(first, 5n);
    await first.close();
    await eventually(() => !dialer.status()[0]!.connected, 'the dialer to notice');
    const second = await standin({ address: first.address, identity: standinIdentity });
    expect(second.nodeId).toBe(first.nodeId);
    await second.waitConnected();
    await exercise(second, 6n);
    expect(dialer.status()[0]!.reconnects).toBe(1);
  });

  it('closes a connection whose frame fails its MAC, with one warn line, and redials', async () => {
    const s = await standin({ address: 'tcp://127.0.0.1:0' });
    const standinPort = Number(s.address.split(':').pop());
    // A proxy that flips one bit in the first sealed frame after the handshake, node -> signer,
    // on the first connection only. Handshake bytes from the node: the ephemeral key message
    // (35 bytes) and the sealed AuthSigMessage frame (1044 bytes).
    let proxied = 0;
    const proxy = net.createServer((fromSigner) => {
      const first = proxied++ === 0;
      const toNode = net.connect(standinPort, '127.0.0.1');
      let seen = 0;
      fromSigner.on('error', () => undefined);
      toNode.on('error', () => undefined);
      fromSigner.pipe(toNode);
      toNode.on('data', (chunk: Buffer) => {
        const out = Buffer.from(chunk);
        const target = 35 + 1044 + 10 - seen;
        if (first && target >= 0 && target < out.length) out[target] = (out[target] as number) ^ 0x01;
        seen += chunk.length;
        fromSigner.write(out);
      });
      fromSigner.on('close', () => toNode.destroy());
      toNode.on('close', () => fromSigner.destroy());
    });
    servers.push(proxy);
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as net.AddressInfo).port;
    const { lines, signPath } = dial([`tcp://127.0.0.1:${port}`]);
    await s.waitConnected();
    await expect(s.signVote(CHAIN, makeVote())).rejects.toThrow(/connection/);
    await eventually(() => lines.some((l) => l.level === 'warn' && /FRAME_AUTH_FAILED/.test(l.message)), 'the MAC failure warning');
    expect(lines.filter((l) => l.level === 'warn' && /FRAME_AUTH_FAILED/.test(l.message))).toHaveLength(1);
    expect(signPath.signCalls).toHaveLength(0);
    await eventually(() => s.connectionCount >= 2 && s.connected, 'the redial through the honest proxy');
    await exercise(s, 5n);
  });

  it('gives up a handshake the node never answers, and says so', async () => {
    // Accepts and reads (so it sees the dialer close), never speaks.
    const accepted: net.Socket[] = [];
    const server = net.createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      socket.resume();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const { dialer } = dial([`tcp://127.0.0.1:${port}`], { handshakeTimeoutMs: 50 });
    await eventually(() => /handshake .* failed: .*did not finish within 50 ms/.test(dialer.status()[0]!.lastError ?? ''), 'the timeout');
    await dialer.close();
    // The accepted sockets must all be closed by the dialer.
    expect(accepted.length).toBeGreaterThan(0);
    await eventually(() => accepted.every((socket) => socket.closed), 'no socket left open');
  });
});

describe('targets', () => {
  it('serves each validator address only the chain whose configuration lists it', async () => {
    const keyB = ValidatorKey.fromSeed(new Uint8Array(32).fill(8));
    const [sa, sb] = [await standin({ address: unixAddress() }), await standin({ address: unixAddress() })];
    // One signer holding two chains; validator node A runs chain a, B runs chain b.
    const signPath = new FakeSignPath({ a: key, b: keyB });
    const { logger } = captureLogger();
    const events: PrivvalRequestEvent[] = [];
    const dialer = startPrivvalDialers({
      targets: [
        { chainId: 'a', address: sa.address },
        { chainId: 'b', address: sb.address },
      ],
      signPath,
      identity,
      logger,
      observer: (e) => events.push(e),
    });
    dialers.push(dialer);
    expect(dialer.status().map((st) => st.chainIds)).toEqual([['a'], ['b']]);
    await Promise.all([sa.waitConnected(), sb.waitConnected()]);

    // Each connection serves its own chain.
    expect((await sa.pubKey('a')).pubKey?.bytes).toEqual(key.publicKey);
    expect((await sb.pubKey('b')).pubKey?.bytes).toEqual(keyB.publicKey);
    expect((await sa.signVote('a', makeVote({ height: 5n, type: SignedMsgType.Prevote }))).error).toBeNull();

    // ... and nothing of the other's, whatever the request.
    const notServed = (chain: string, address: string): RegExp =>
      new RegExp(
        `^chain-not-served: chain "${chain}" is not served on this connection \\(${address.replace(/[.]/g, '\\.')}\\), which serves "${chain === 'a' ? 'b' : 'a'}": ` +
          `if this validator node runs chain "${chain}", list its address under validatorAddrs of that chain in the signer's config\\.yaml, not another chain's$`,
      );
    const pub = await sb.pubKey('a');
    expect(pub.pubKey).toBeNull();
    expect(pub.error).toEqual({ code: RemoteSignerErrorCode.InvalidRequest, description: expect.stringMatching(notServed('a', sb.address)) });
    const calls = signPath.signCalls.length;
    const vote = await sb.signVote('a', makeVote({ height: 6n, type: SignedMsgType.Prevote }));
    expect(vote.error?.description).toMatch(notServed('a', sb.address));
    const proposal = await sa.signProposal('b', makeProposal({ height: 6n }));
    expect(proposal.error?.description).toMatch(notServed('b', sa.address));
    // The refused requests never reached the sign path: no slashing record moved.
    expect(signPath.signCalls.length).toBe(calls);
    // (The stand-in asks for the chain's key before each of its first signing requests, as a node does.)
    expect(new Set(events.filter((e) => e.reason === 'chain-not-served').map((e) => `${e.kind}:${e.chainId}`))).toEqual(
      new Set(['pubKey:a', 'signVote:a', 'pubKey:b', 'signProposal:b']),
    );
    // A chain the signer does not hold at all is still an unknown chain.
    expect((await sa.pubKey('c')).error?.description).toMatch(/^unknown-chain: /);
  });

  it('refuses one validator address listed for two chains before dialling anything', () => {
    const base = { signPath: new FakeSignPath({ a: key, b: key }), identity, logger: captureLogger().logger };
    expect(() =>
      startPrivvalDialers({
        ...base,
        targets: [
          { chainId: 'a', address: 'tcp://Val.example:26659' },
          { chainId: 'b', address: 'tcp://val.example:26659' },
        ],
      }),
    ).toThrow(/validator address "tcp:\/\/val\.example:26659" is listed for chain "b" and, as "tcp:\/\/Val\.example:26659", for chain "a": a validator node runs one chain/);
  });

  it('refuses bad addresses and two pins for one host:port before dialling anything', () => {
    const base = { signPath: new FakeSignPath({}), identity, logger: captureLogger().logger };
    expect(() => startPrivvalDialers({ ...base, targets: [{ chainId: 'a', address: 'http://x:1' }] })).toThrow(PrivvalAddressError);
    expect(() =>
      startPrivvalDialers({
        ...base,
        targets: [
          { chainId: 'a', address: `tcp://${'ab'.repeat(20)}@127.0.0.1:9` },
          { chainId: 'a', address: `tcp://${'cd'.repeat(20)}@127.0.0.1:9` },
        ],
      }),
    ).toThrow(PrivvalTargetConflictError);
    expect(() => startPrivvalDialers({ ...base, targets: [], connectTimeoutMs: 0 })).toThrow(RangeError);
  });
});
