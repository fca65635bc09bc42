// Deterministic fuzzing of the privval session and of the dialer's handshake: random bytes and
// mutated valid requests go into a session over a real unix socket, split into random chunks.
// The oracle is independent of the session: if the bytes are a sequence of well-formed requests,
// every one must be answered and the session must end only because the node closed; otherwise
// the session must end with 'bad-input' and a warn line. Always: no crash, no hang, and the sign
// path is only ever called with a well-formed request for the chain's key (canonical sign bytes
// whose HRS and type agree with the request). A failure names the seed and case.

import * as net from 'node:net';

import { ValidatorKey } from '../../src/keys/validator_key';
import { FramingError, LengthPrefixedReader, encodeFrame } from '../../src/privval/framing';
import { PrivvalMessage, SignedMsgType, decodeMessage, emptyBlockId, encodeMessage } from '../../src/cometbft/messages';
import { servePrivvalConnection } from '../../src/privval/privval_session';
import { startPrivvalDialers } from '../../src/privval/privval_dialer';
import { SignerIdentity } from '../../src/privval/signer_identity';
import { decideFilePv } from '../../src/cometbft/filepv_rules';
import { fuzzRandom as prng, FuzzRandom as Rng, INTERESTING_PROTOBUF_BYTES, mutate } from '../support/fuzz_input';
import { FakeSignPath, NodeEnd, SocketPairs, TS2, captureLogger, eventually, makeProposal, makeVote, within } from './privval_fixtures';

const SEED = 0x9e55_10f;
const CHAIN = 'fuzz-chain';
const key = ValidatorKey.fromSeed(new Uint8Array(32).fill(21));


const SEED_REQUESTS: PrivvalMessage[] = [
  { kind: 'pubKeyRequest', value: { chainId: CHAIN } },
  { kind: 'pingRequest' },
  { kind: 'signVoteRequest', value: { vote: makeVote({ height: 7n }), chainId: CHAIN, skipExtensionSigning: false } },
  {
    kind: 'signVoteRequest',
    value: {
      vote: makeVote({ height: 7n, type: SignedMsgType.Precommit, extension: new Uint8Array([1, 2, 3]), validatorAddress: key.addressBytes }),
      chainId: CHAIN,
      skipExtensionSigning: false,
    },
  },
  {
    kind: 'signVoteRequest',
    value: { vote: makeVote({ height: 8n, type: SignedMsgType.Precommit, blockId: emptyBlockId() }), chainId: CHAIN, skipExtensionSigning: true },
  },
  { kind: 'signVoteRequest', value: { vote: makeVote({ height: 7n, timestamp: TS2 }), chainId: CHAIN, skipExtensionSigning: false } },
  { kind: 'signProposalRequest', value: { proposal: makeProposal({ height: 9n, round: 2, polRound: 1 }), chainId: CHAIN } },
  { kind: 'signBytesRequest', value: { value: new Uint8Array([9, 9]) } },
];
const SEED_BODIES = SEED_REQUESTS.map((m) => encodeMessage(m));

const INTERESTING = [...INTERESTING_PROTOBUF_BYTES, [0x12, 0x00], [0x42, 0x00]];


function concat(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts.map((p) => Buffer.from(p))));
}

const REQUEST_KINDS = new Set(['pubKeyRequest', 'pingRequest', 'signVoteRequest', 'signProposalRequest', 'signBytesRequest']);

/** The oracle: how many requests the stream holds if it is entirely well formed, else null. */
function wellFormedRequests(stream: Uint8Array): number | null {
  const reader = new LengthPrefixedReader();
  let frames: Uint8Array[];
  try {
    frames = reader.push(stream);
    reader.end();
  } catch (err) {
    if (err instanceof FramingError) return null;
    throw err;
  }
  for (const frame of frames) {
    let msg: PrivvalMessage;
    try {
      msg = decodeMessage(frame);
    } catch {
      return null;
    }
    if (!REQUEST_KINDS.has(msg.kind)) return null;
  }
  return frames.length;
}

interface FuzzCase {
  name: string;
  bytes: Uint8Array;
}

function buildCases(rng: Rng): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const pick = (): Uint8Array => SEED_BODIES[rng.int(SEED_BODIES.length)] as Uint8Array;
  for (let i = 0; i < 160; i++) cases.push({ name: `body-${i}`, bytes: encodeFrame(mutate(pick(), rng, INTERESTING)) });
  for (let i = 0; i < 100; i++) {
    const frames = Array.from({ length: 1 + rng.int(3) }, () => encodeFrame(pick()));
    cases.push({ name: `stream-${i}`, bytes: mutate(concat(frames), rng, INTERESTING) });
  }
  for (let i = 0; i < 40; i++) cases.push({ name: `random-${i}`, bytes: rng.bytes(rng.int(200)) });
  for (let i = 0; i < 20; i++) {
    // A valid request, then garbage: the request is answered or lost, never mis-served.
    cases.push({ name: `tail-${i}`, bytes: concat([encodeFrame(pick()), rng.bytes(1 + rng.int(40))]) });
  }
  return cases;
}

const pairs = new SocketPairs();
beforeAll(() => pairs.start());
afterAll(() => pairs.stop());

/** Runs one case; returns how many times the sign path was called. */
async function runCase(c: FuzzCase, rng: Rng): Promise<number> {
  const [nodeSocket, signerSocket] = await pairs.pair();
  const signPath = new FakeSignPath({ [CHAIN]: key });
  const { logger, lines } = captureLogger();
  const session = servePrivvalConnection(signerSocket, { signPath, chainIds: [CHAIN], logger });
  const node = new NodeEnd(nodeSocket);
  // Random chunk boundaries, so the framing is exercised across reads.
  let offset = 0;
  while (offset < c.bytes.length) {
    const len = 1 + rng.int(Math.max(1, c.bytes.length - offset));
    node.sendRaw(c.bytes.subarray(offset, offset + len));
    offset += len;
  }
  nodeSocket.end();
  const end = await within(session.closed, 3000, `${c.name}: the session to end`);
  await within(node.closed, 3000, `${c.name}: the node side to close`);

  const expected = wellFormedRequests(c.bytes);
  const responses: PrivvalMessage[] = [];
  for (;;) {
    const frame = await node.nextFrame(100).catch(() => null);
    if (frame === null) break;
    responses.push(decodeMessage(frame));
  }
  const where = `seed ${SEED} case ${c.name} (${Buffer.from(c.bytes).toString('hex')})`;
  if (expected !== null) {
    if (end.reason !== 'peer-closed' || responses.length !== expected) {
      throw new Error(`${where}: well-formed input, but ${end.reason} (${end.message}) after ${responses.length} of ${expected} answers`);
    }
  } else {
    if (end.reason !== 'bad-input') throw new Error(`${where}: malformed input, but the session ended with ${end.reason}: ${end.message}`);
    await eventually(() => lines.some((l) => l.level === 'warn'), `${where}: a warn line`);
  }
  for (const res of responses) {
    if (REQUEST_KINDS.has(res.kind) || res.kind === 'none') throw new Error(`${where}: the session answered with a ${res.kind}`);
  }
  for (const call of signPath.signCalls) {
    const wellFormed =
      call.chainId === CHAIN &&
      Buffer.from(call.pubKey).equals(Buffer.from(key.publicKey)) &&
      call.height >= 1n &&
      call.round >= 0 &&
      decideFilePv(null, call).kind === 'sign';
    if (!wellFormed) throw new Error(`${where}: the sign path was called with a malformed request at ${call.height}/${call.round}/${call.step}`);
  }
  return signPath.signCalls.length;
}

describe('privval session fuzz', () => {
  it('random and mutated input: answered exactly when well formed, else closed as bad input', async () => {
    const rng = prng(SEED);
    const cases = buildCases(rng);
    let malformed = 0;
    let signCalls = 0;
    for (const c of cases) {
      if (wellFormedRequests(c.bytes) === null) malformed++;
      signCalls += await runCase(c, rng);
    }
    // The generator must exercise both sides of the oracle.
    expect(malformed).toBeGreaterThan(cases.length / 2);
    expect(cases.length - malformed).toBeGreaterThan(10);
    // ... and reach the sign path, so that its check above means something.
    expect(signCalls).toBeGreaterThan(10);
  });
});

describe('dialer handshake fuzz', () => {
  it('a node that answers the handshake with mutated bytes is refused each time, and nothing is signed', async () => {
    const rng = prng(SEED + 1);
    const validEphemeral = concat([Uint8Array.from([0x22, 0x0a, 0x20]), rng.bytes(32)]);
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.on('error', () => undefined);
      socket.resume();
      socket.write(mutate(concat([validEphemeral, rng.bytes(rng.int(1100))]), rng, INTERESTING));
      if (rng.int(2) === 0) socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const signPath = new FakeSignPath({ [CHAIN]: key });
    const dialer = startPrivvalDialers({
      targets: [{ chainId: CHAIN, address: `tcp://127.0.0.1:${port}` }],
      signPath,
      identity: SignerIdentity.fromSeed(new Uint8Array(32).fill(22)),
      logger: captureLogger().logger,
      backoff: { initialMs: 1, maxMs: 2 },
      handshakeTimeoutMs: 100,
    });
    try {
      await eventually(() => connections >= 40, '40 handshakes', 9000);
      const [status] = dialer.status();
      expect(status!.connected).toBe(false);
      expect(status!.reconnects).toBe(0);
      expect(status!.lastError).toMatch(/handshake/);
      expect(signPath.signCalls).toHaveLength(0);
    } finally {
      await dialer.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
