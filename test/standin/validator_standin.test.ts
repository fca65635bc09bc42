// The validator stand-in driven by a hand-made signer on a unix socket: requests go out one at a
// time in order and wait for a connection, timeouts and drops reject with clear errors, the
// newest connection wins, and what a real node would refuse (an oversized or unsolicited
// response, a vote signed for other fields, a missing extension signature) lands in
// protocolErrors. The stand-in against the real dialer is covered in privval_dialer.test.ts.

import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import path from 'node:path';

import { ValidatorKey } from '../../src/keys/validator_key';
import { LengthPrefixedReader, encodeFrame } from '../../src/privval/framing';
import { PrivvalMessage, SignedMsgType, Vote, decodeMessage, encodeMessage } from '../../src/cometbft/messages';
import { voteExtensionSignBytes, voteSignBytes } from '../../src/cometbft/sign_bytes';
import { StandinError, ValidatorStandin } from '../../src/standin/validator_standin';
import { blockId, eventually, makeVote, tempDir, within } from '../privval/privval_fixtures';

const CHAIN = 'standin-chain';
const key = ValidatorKey.fromSeed(new Uint8Array(32).fill(11));

const tmp = tempDir('rs-standin-');
afterAll(() => tmp.remove());

const standins: ValidatorStandin[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(standins.splice(0).map((s) => s.close()));
});

let seq = 0;
async function listen(extra: { pingIntervalMs?: number; maxResponseBytes?: number } = {}): Promise<ValidatorStandin> {
  const s = await ValidatorStandin.listen({ address: `unix://${path.join(tmp.dir, `s${++seq}.sock`)}`, pingIntervalMs: 0, ...extra });
  standins.push(s);
  return s;
}

/** A signer written by hand: it reads requests and answers with whatever the test says. */
class FakeSigner {
  readonly requests: PrivvalMessage[] = [];
  answer: (req: PrivvalMessage) => PrivvalMessage | Uint8Array | null = defaultAnswer;
  private readonly reader = new LengthPrefixedReader();

  constructor(readonly socket: net.Socket) {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.reader.push(chunk)) {
        const req = decodeMessage(frame);
        this.requests.push(req);
        const res = this.answer(req);
        if (res === null) continue;
        socket.write(res instanceof Uint8Array ? res : encodeFrame(encodeMessage(res)));
      }
    });
  }

  static async connect(s: ValidatorStandin): Promise<FakeSigner> {
    const socket = net.connect(s.address.slice('unix://'.length));
    sockets.push(socket);
    await once(socket, 'connect');
    await s.waitConnected();
    return new FakeSigner(socket);
  }
}

function signed(vote: Vote): Vote {
  const out: Vote = { ...vote, signature: key.sign(voteSignBytes(CHAIN, vote)), extension: new Uint8Array(0) };
  if (vote.type === SignedMsgType.Precommit && vote.blockId.hash.length > 0) {
    out.extensionSignature = key.sign(voteExtensionSignBytes(CHAIN, vote));
  }
  return out;
}

function defaultAnswer(req: PrivvalMessage): PrivvalMessage | null {
  switch (req.kind) {
    case 'pingRequest':
      return { kind: 'pingResponse' };
    case 'pubKeyRequest':
      return { kind: 'pubKeyResponse', value: { pubKey: { type: 'ed25519', bytes: key.publicKey }, error: null } };
    case 'signVoteRequest':
      return { kind: 'signedVoteResponse', value: { vote: signed(req.value.vote as Vote), error: null } };
    default:
      return null;
  }
}

async function rejection(promise: Promise<unknown>): Promise<StandinError> {
  const err = await within(promise.then(() => null, (e: unknown) => e), 5000, 'a rejection');
  expect(err).toBeInstanceOf(StandinError);
  return err as StandinError;
}

describe('requests', () => {
  it('waits for a connection, then sends requests one at a time in order', async () => {
    const s = await listen();
    const pending = [s.ping(), s.pubKey(CHAIN), s.ping()];
    const signer = await FakeSigner.connect(s);
    await Promise.all(pending);
    expect(signer.requests.map((r) => r.kind)).toEqual(['pingRequest', 'pubKeyRequest', 'pingRequest']);
  });

  it('records signed votes as the node would use them, verifiably', async () => {
    const s = await listen();
    await FakeSigner.connect(s);
    const res = await s.signVote(CHAIN, makeVote({ type: SignedMsgType.Precommit, extension: new Uint8Array([7]) }));
    expect(res.error).toBeNull();
    expect(s.history.size).toBe(1);
    expect(s.history.records[0]!.message.kind).toBe('vote');
    expect(s.history.verify().ok).toBe(true);
    expect(s.protocolErrors).toEqual([]);
  });

  it('rejects with timeout when no signer connects in time', async () => {
    const s = await listen();
    const err = await rejection(s.request({ kind: 'pingRequest' }, 30));
    expect(err.code).toBe('timeout');
    expect(err.message).toMatch(/no signer connected/);
    expect((await rejection(s.waitConnected(30))).code).toBe('timeout');
  });

  it('rejects with timeout when the response does not come, and drops that connection', async () => {
    const s = await listen();
    const signer = await FakeSigner.connect(s);
    signer.answer = () => null;
    const err = await rejection(s.request({ kind: 'pingRequest' }, 50));
    expect(err.code).toBe('timeout');
    expect(err.message).toMatch(/no response to pingRequest/);
    await within(once(signer.socket, 'close'), 5000, 'the connection to be dropped');
  });

  it('rejects with connection-lost when the signer goes away mid-request, and serves the queue on the next one', async () => {
    const s = await listen();
    const first = await FakeSigner.connect(s);
    first.answer = () => {
      first.socket.destroy();
      return null;
    };
    const lost = s.ping();
    const queued = s.ping();
    expect((await rejection(lost)).code).toBe('connection-lost');
    await FakeSigner.connect(s);
    await within(queued, 5000, 'the queued request on the new connection');
  });

  it('lets the newest connection win', async () => {
    const s = await listen();
    const older = await FakeSigner.connect(s);
    const newer = await FakeSigner.connect(s);
    await eventually(() => s.connectionCount === 2, 'the second connection');
    await within(once(older.socket, 'close'), 5000, 'the older connection to close');
    await s.ping();
    expect(newer.requests).toHaveLength(1);
    expect(older.requests).toHaveLength(0);
  });

  it('close() rejects what is pending with closed', async () => {
    const s = await listen();
    const pending = s.ping();
    const waiting = s.waitConnected();
    await s.close();
    expect((await rejection(pending)).code).toBe('closed');
    expect((await rejection(waiting)).code).toBe('closed');
    expect((await rejection(s.ping())).code).toBe('closed');
  });

  it('pings an idle connection', async () => {
    const s = await listen({ pingIntervalMs: 10 });
    const signer = await FakeSigner.connect(s);
    await eventually(() => signer.requests.filter((r) => r.kind === 'pingRequest').length >= 2, 'two pings');
  });
});

describe('what a node would refuse', () => {
  it('an unexpected response kind', async () => {
    const s = await listen();
    const signer = await FakeSigner.connect(s);
    signer.answer = () => ({ kind: 'pingResponse' });
    const err = await rejection(s.pubKey(CHAIN));
    expect(err.code).toBe('unexpected-response');
    expect(s.protocolErrors).toEqual(['a pubKeyRequest was answered with a pingResponse']);
  });

  it('a response over 10 KiB', async () => {
    const s = await listen();
    const signer = await FakeSigner.connect(s);
    signer.answer = (req) =>
      req.kind === 'signVoteRequest'
        ? { kind: 'signedVoteResponse', value: { vote: { ...signed(req.value.vote as Vote), extension: new Uint8Array(20_000) }, error: null } }
        : defaultAnswer(req);
    const err = await rejection(s.signVote(CHAIN, makeVote()));
    expect(err.code).toBe('connection-lost');
    expect(s.protocolErrors[0]).toMatch(/exceeds the limit of 10240 bytes/);
  });

  it('an unsolicited message', async () => {
    const s = await listen();
    const signer = await FakeSigner.connect(s);
    signer.socket.write(encodeFrame(encodeMessage({ kind: 'pingResponse' })));
    await within(once(signer.socket, 'close'), 5000, 'the connection to be dropped');
    expect(s.protocolErrors).toEqual(['unsolicited pingResponse from the signer']);
  });

  it('a vote signed for another block, and a precommit without its extension signature', async () => {
    const s = await listen();
    const signer = await FakeSigner.connect(s);
    signer.answer = (req) => {
      if (req.kind !== 'signVoteRequest') return defaultAnswer(req);
      const other = signed({ ...(req.value.vote as Vote), blockId: blockId(9) });
      return { kind: 'signedVoteResponse', value: { vote: { ...other, extensionSignature: new Uint8Array(0) }, error: null } };
    };
    await s.signVote(CHAIN, makeVote({ type: SignedMsgType.Precommit }));
    expect(s.protocolErrors).toEqual([
      expect.stringMatching(/returned a vote with another block id/),
      expect.stringMatching(/without an extension signature/),
    ]);
    // Recorded as the node would use it (its own block id): the signature does not verify.
    expect(s.history.verify().ok).toBe(false);
  });

  it('a refusal is returned, not recorded', async () => {
    const s = await listen();
    const signer = await FakeSigner.connect(s);
    signer.answer = (req) =>
      req.kind === 'signVoteRequest'
        ? { kind: 'signedVoteResponse', value: { vote: makeVote({ height: 0n }), error: { code: 2, description: 'conflicting-data: no' } } }
        : defaultAnswer(req);
    const res = await s.signVote(CHAIN, makeVote());
    expect(res.error?.description).toBe('conflicting-data: no');
    expect(s.history.size).toBe(0);
  });
});

describe('listening', () => {
  it('takes over a stale unix socket file, and refuses a live one', async () => {
    const socketPath = path.join(tmp.dir, 'stale.sock');
    const stale = net.createServer();
    await new Promise<void>((resolve) => stale.listen(socketPath, resolve));
    const live = ValidatorStandin.listen({ address: `unix://${socketPath}`, pingIntervalMs: 0 });
    expect((await rejection(live)).code).toBe('listen-failed');
    await new Promise<void>((resolve) => stale.close(() => resolve()));
    // A crashed process leaves its socket file behind, with nobody listening on it.
    writeFileSync(socketPath, '');
    const s = await ValidatorStandin.listen({ address: `unix://${socketPath}`, pingIntervalMs: 0 });
    standins.push(s);
    await FakeSigner.connect(s);
    await s.ping();
  });

  it('refuses a listen address with a node id', async () => {
    await expect(ValidatorStandin.listen({ address: `tcp://${'ab'.repeat(20)}@127.0.0.1:0` })).rejects.toThrow(StandinError);
  });
});
