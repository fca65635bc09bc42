// The privval session against a fake SignPath over real unix socket pairs: every message type,
// both PubKeyResponse layouts at once, the refusals (unknown chain, another key, raw bytes,
// misplaced extensions, the sign path's own), stored timestamps, extension signatures, response
// size, and bad input that must close the connection without touching the sign path.

import * as net from 'node:net';
import { Duplex } from 'node:stream';

import { ValidatorKey, verifyEd25519 } from '../../src/keys/validator_key';
import { encodeUvarint, ProtoReader } from '../../src/cometbft/protobuf';
import { encodeFrame } from '../../src/privval/framing';
import {
  PrivvalMessage,
  PubKeyResponse,
  SignBytesResponse,
  SignedMsgType,
  SignedProposalResponse,
  SignedVoteResponse,
  decodeMessage,
  decodePublicKey,
  emptyBlockId,
  emptyProposal,
  emptyVote,
  encodeMessage,
  Vote,
} from '../../src/cometbft/messages';
import { proposalSignBytes, voteExtensionSignBytes, voteSignBytes } from '../../src/cometbft/sign_bytes';
import {
  MAX_RESPONSE_BYTES,
  PrivvalRequestEvent,
  PrivvalSession,
  RemoteSignerErrorCode,
  SessionEnd,
  servePrivvalConnection,
} from '../../src/privval/privval_session';
import { SignOutcome } from '../../src/cometbft/sign_types';
import {
  FakeSignPath,
  LogLine,
  NodeEnd,
  SocketPairs,
  TS1,
  TS2,
  blockId,
  captureLogger,
  eventually,
  makeProposal,
  makeVote,
  within,
} from './privval_fixtures';

const CHAIN = 'test-chain';
const OTHER_CHAIN = 'other-chain';
const key = ValidatorKey.fromSeed(new Uint8Array(32).fill(7));
const otherKey = ValidatorKey.fromSeed(new Uint8Array(32).fill(9));

const pairs = new SocketPairs();
beforeAll(() => pairs.start());
afterAll(() => pairs.stop());

interface Harness {
  node: NodeEnd;
  signerSocket: net.Socket;
  session: PrivvalSession;
  signPath: FakeSignPath;
  lines: LogLine[];
  events: PrivvalRequestEvent[];
}

const sessions: PrivvalSession[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

async function harness(options: { idleTimeoutMs?: number; maxMessageSize?: number; chainIds?: string[] } = {}): Promise<Harness> {
  const [nodeSocket, signerSocket] = await pairs.pair();
  const signPath = new FakeSignPath({ [CHAIN]: key, [OTHER_CHAIN]: otherKey });
  const { logger, lines } = captureLogger();
  const events: PrivvalRequestEvent[] = [];
  const session = servePrivvalConnection(signerSocket, {
    signPath,
    chainIds: options.chainIds ?? [CHAIN, OTHER_CHAIN],
    logger,
    observer: (e) => events.push(e),
    peer: 'test-node',
    idleTimeoutMs: options.idleTimeoutMs,
    maxMessageSize: options.maxMessageSize,
  });
  sessions.push(session);
  return { node: new NodeEnd(nodeSocket), signerSocket, session, signPath, lines, events };
}

async function signVote(h: Harness, vote: Vote, chainId = CHAIN, skipExtensionSigning = false): Promise<SignedVoteResponse> {
  const res = await h.node.request({ kind: 'signVoteRequest', value: { vote, chainId, skipExtensionSigning } });
  expect(res.kind).toBe('signedVoteResponse');
  return (res as { kind: 'signedVoteResponse'; value: SignedVoteResponse }).value;
}

async function signProposal(h: Harness, proposal = makeProposal(), chainId = CHAIN): Promise<SignedProposalResponse> {
  const res = await h.node.request({ kind: 'signProposalRequest', value: { proposal, chainId } });
  expect(res.kind).toBe('signedProposalResponse');
  return (res as { kind: 'signedProposalResponse'; value: SignedProposalResponse }).value;
}

function frame(msg: PrivvalMessage): Uint8Array {
  return encodeFrame(encodeMessage(msg));
}

function expectEmptyVote(vote: Vote): void {
  expect(vote).toEqual(emptyVote());
}

/** The field numbers present at the top level of a PubKeyResponse inside a Message frame. */
function pubKeyResponseFields(frame: Uint8Array): Map<number, Uint8Array | null> {
  const outer = new ProtoReader(frame, 'Message');
  const tag = outer.tag();
  expect(tag.fieldNumber).toBe(2);
  const r = new ProtoReader(outer.lengthDelimited(), 'PubKeyResponse');
  const fields = new Map<number, Uint8Array | null>();
  while (!r.atEnd) {
    const t = r.tag();
    fields.set(t.fieldNumber, t.wireType === 2 ? r.lengthDelimited() : (r.skip(t), null));
  }
  return fields;
}

describe('PubKeyRequest and PingRequest', () => {
  it('answers with the chain key in fields 1 (v0.38) and 3, 4 (v1) at once', async () => {
    const h = await harness();
    h.node.send({ kind: 'pubKeyRequest', value: { chainId: CHAIN } });
    const frame = await h.node.nextFrame();
    const fields = pubKeyResponseFields(frame);
    expect(decodePublicKey(fields.get(1) as Uint8Array)).toEqual({ type: 'ed25519', bytes: key.publicKey });
    expect(Buffer.from(fields.get(3) as Uint8Array)).toEqual(Buffer.from(key.publicKey));
    expect(Buffer.from(fields.get(4) as Uint8Array).toString('utf8')).toBe('ed25519');
    expect(fields.has(2)).toBe(false);
    expect(h.signPath.signCalls).toHaveLength(0);
    expect(h.events).toEqual([expect.objectContaining({ kind: 'pubKey', chainId: CHAIN, outcome: 'answered' })]);
  });

  it('serves every chain configured for its address on one connection', async () => {
    const h = await harness();
    const a = (await h.node.request({ kind: 'pubKeyRequest', value: { chainId: CHAIN } })) as { value: PubKeyResponse };
    const b = (await h.node.request({ kind: 'pubKeyRequest', value: { chainId: OTHER_CHAIN } })) as { value: PubKeyResponse };
    expect(a.value.pubKey?.bytes).toEqual(key.publicKey);
    expect(b.value.pubKey?.bytes).toEqual(otherKey.publicKey);
  });

  it('refuses every request for a chain the signer holds but not for this address, naming the chain', async () => {
    const h = await harness({ chainIds: [CHAIN] });
    const expected = new RegExp(
      `^chain-not-served: chain "${OTHER_CHAIN}" is not served on this connection \\(test-node\\), which serves "${CHAIN}": ` +
        `if this validator node runs chain "${OTHER_CHAIN}", list its address under validatorAddrs of that chain in the signer's config\\.yaml`,
    );
    const pub = (await h.node.request({ kind: 'pubKeyRequest', value: { chainId: OTHER_CHAIN } })) as { value: PubKeyResponse };
    expect(pub.value.pubKey).toBeNull();
    expect(pub.value.error).toEqual({ code: RemoteSignerErrorCode.InvalidRequest, description: expect.stringMatching(expected) });
    const vote = await signVote(h, makeVote(), OTHER_CHAIN);
    expectEmptyVote(vote.vote);
    expect(vote.error?.description).toMatch(expected);
    const proposal = await signProposal(h, makeProposal(), OTHER_CHAIN);
    expect(proposal.error?.description).toMatch(expected);
    expect(h.signPath.signCalls).toHaveLength(0);
    expect(h.events.map((e) => `${e.kind}:${e.outcome}:${e.reason}`)).toEqual([
      'pubKey:refused:chain-not-served',
      'signVote:refused:chain-not-served',
      'signProposal:refused:chain-not-served',
    ]);
    // Its own chain is served on the same connection.
    expect((await signVote(h, makeVote())).error).toBeNull();
  });

  it('answers an unknown chain with a RemoteSignerError naming it, and keeps the connection', async () => {
    const h = await harness();
    const res = await h.node.request({ kind: 'pubKeyRequest', value: { chainId: 'nope' } });
    expect(res.kind).toBe('pubKeyResponse');
    const value = (res as { value: PubKeyResponse }).value;
    expect(value.pubKey).toBeNull();
    expect(value.error?.code).toBe(RemoteSignerErrorCode.InvalidRequest);
    expect(value.error?.description).toContain('unknown-chain');
    expect(value.error?.description).toContain('"nope"');
    expect(await h.node.request({ kind: 'pingRequest' })).toEqual({ kind: 'pingResponse' });
    expect(h.events[0]).toEqual(expect.objectContaining({ kind: 'pubKey', outcome: 'refused', reason: 'unknown-chain' }));
  });

  it('answers PingRequest with PingResponse', async () => {
    const h = await harness();
    expect(await h.node.request({ kind: 'pingRequest' })).toEqual({ kind: 'pingResponse' });
    expect(await h.node.request({ kind: 'pingRequest' })).toEqual({ kind: 'pingResponse' });
    expect(h.events.map((e) => e.kind)).toEqual(['ping', 'ping']);
    expect(h.session.requestsServed).toBe(2);
  });
});

describe('SignVoteRequest', () => {
  it('signs a prevote through the sign path and returns only what the node reads', async () => {
    const h = await harness();
    const vote = makeVote({ validatorAddress: key.addressBytes, validatorIndex: 3 });
    const res = await signVote(h, vote);
    expect(res.error).toBeNull();
    expect(verifyEd25519(key.publicKey, voteSignBytes(CHAIN, vote), res.vote.signature)).toBe(true);
    expect(res.vote.timestamp).toEqual(TS1);
    expect(res.vote.blockId).toEqual(vote.blockId);
    expect(res.vote.extensionSignature).toHaveLength(0);
    expect(h.signPath.signCalls).toHaveLength(1);
    const call = h.signPath.signCalls[0]!;
    expect(call).toEqual({ chainId: CHAIN, pubKey: key.publicKey, height: 10n, round: 0, step: 2, signBytes: voteSignBytes(CHAIN, vote) });
    expect(h.events).toEqual([expect.objectContaining({ kind: 'signVote', chainId: CHAIN, outcome: 'signed' })]);
    expect(h.events[0]!.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('signs a precommit at step 3', async () => {
    const h = await harness();
    const res = await signVote(h, makeVote({ type: SignedMsgType.Precommit }));
    expect(res.error).toBeNull();
    expect(h.signPath.signCalls[0]!.step).toBe(3);
  });

  it('refuses an unknown chain without calling the sign path, with the empty vote Go writes', async () => {
    const h = await harness();
    h.node.send({ kind: 'signVoteRequest', value: { vote: makeVote(), chainId: 'nope', skipExtensionSigning: false } });
    const frame = await h.node.nextFrame();
    // SignedVoteResponse { vote = empty Vote as Go writes it: block id 2202 1200, Go's zero time }.
    expect(Buffer.from(frame).toString('hex')).toContain('22021200' + '2a0b088092b8c398feffffff01');
    const res = (decodeMessage(frame) as { value: SignedVoteResponse }).value;
    expectEmptyVote(res.vote);
    expect(res.error?.description).toContain('unknown-chain');
    expect(h.signPath.signCalls).toHaveLength(0);
  });

  it('refuses a vote for another validator ("request for another key") without calling the sign path', async () => {
    const h = await harness();
    const res = await signVote(h, makeVote({ validatorAddress: otherKey.addressBytes }));
    expect(res.error?.description).toContain('request for another key');
    expect(res.error?.description).toContain(otherKey.address);
    expectEmptyVote(res.vote);
    expect(h.signPath.signCalls).toHaveLength(0);
    expect(h.events[0]).toEqual(expect.objectContaining({ outcome: 'refused', reason: 'wrong-key' }));
  });

  it.each([
    ['proposal type 32', SignedMsgType.Proposal],
    ['unknown type 0', 0],
    ['unknown type 7', 7],
  ])('refuses a vote of %s without calling the sign path', async (_name, type) => {
    const h = await harness();
    const res = await signVote(h, makeVote({ type }));
    expect(res.error?.description).toContain('invalid-request');
    expect(h.signPath.signCalls).toHaveLength(0);
  });

  it('refuses a request without a vote, a bad block id, a zero height or a negative round', async () => {
    const h = await harness();
    const bad: (Vote | null)[] = [
      null,
      makeVote({ blockId: { hash: new Uint8Array(5), partSetHeader: { total: 1, hash: new Uint8Array(32) } } }),
      makeVote({ height: 0n }),
      makeVote({ round: -1 }),
    ];
    for (const vote of bad) {
      const res = await h.node.request({ kind: 'signVoteRequest', value: { vote, chainId: CHAIN, skipExtensionSigning: false } });
      const value = (res as { value: SignedVoteResponse }).value;
      expect(value.error?.code).toBe(RemoteSignerErrorCode.InvalidRequest);
      expect(value.error?.description).toContain('invalid-request');
    }
    expect(h.signPath.signCalls).toHaveLength(0);
  });

  it('returns the stored signature and the stored timestamp for a vote that differs only by timestamp', async () => {
    const h = await harness();
    const first = await signVote(h, makeVote({ timestamp: TS1 }));
    const again = await signVote(h, makeVote({ timestamp: TS2 }));
    expect(again.error).toBeNull();
    expect(again.vote.timestamp).toEqual(TS1);
    expect(Buffer.from(again.vote.signature)).toEqual(Buffer.from(first.vote.signature));
    expect(verifyEd25519(key.publicKey, voteSignBytes(CHAIN, again.vote), again.vote.signature)).toBe(true);
    expect(h.events.map((e) => e.outcome)).toEqual(['signed', 'signed-with-stored-timestamp']);
  });

  it('answers a refusal of the sign path with a RemoteSignerError saying why', async () => {
    const h = await harness();
    await signVote(h, makeVote({ blockId: blockId(1) }));
    const conflicting = await signVote(h, makeVote({ blockId: blockId(5) }));
    expectEmptyVote(conflicting.vote);
    expect(conflicting.error?.code).toBe(RemoteSignerErrorCode.DoubleSignProtection);
    expect(conflicting.error?.description).toMatch(/^conflicting-data: conflicting data at height 10 round 0/);

    h.signPath.override = (): SignOutcome => ({ kind: 'refused', reason: 'deadline', message: 'not committed within 3000 ms' });
    const late = await signVote(h, makeVote({ height: 11n }));
    expect(late.error).toEqual({ code: RemoteSignerErrorCode.Unavailable, description: 'deadline: not committed within 3000 ms' });
    expect(h.events.map((e) => e.reason)).toEqual([undefined, 'conflicting-data', 'deadline']);
  });

  it('answers with an error, not a crash, when the sign path throws', async () => {
    const h = await harness();
    h.signPath.override = (): never => {
      throw new Error('boom');
    };
    const res = await signVote(h, makeVote());
    expect(res.error?.code).toBe(RemoteSignerErrorCode.Internal);
    expect(res.error?.description).toContain('boom');
    expect(await h.node.request({ kind: 'pingRequest' })).toEqual({ kind: 'pingResponse' });
  });
});

describe('vote extensions', () => {
  const extension = new TextEncoder().encode('extension');

  it('signs the extension of a non-nil precommit, again for a repeated vote', async () => {
    const h = await harness();
    const vote = makeVote({ type: SignedMsgType.Precommit, extension });
    const extBytes = voteExtensionSignBytes(CHAIN, vote);
    for (let i = 0; i < 2; i++) {
      const res = await signVote(h, vote);
      expect(res.error).toBeNull();
      expect(verifyEd25519(key.publicKey, voteSignBytes(CHAIN, vote), res.vote.signature)).toBe(true);
      expect(verifyEd25519(key.publicKey, extBytes, res.vote.extensionSignature)).toBe(true);
      expect(res.vote.extension).toHaveLength(0);
    }
    expect(h.signPath.signCalls).toHaveLength(2);
    expect(h.signPath.extensionCalls).toHaveLength(2);
  });

  it('signs the (empty) extension of a non-nil precommit that carries none', async () => {
    const h = await harness();
    const vote = makeVote({ type: SignedMsgType.Precommit });
    const res = await signVote(h, vote);
    expect(verifyEd25519(key.publicKey, voteExtensionSignBytes(CHAIN, vote), res.vote.extensionSignature)).toBe(true);
  });

  it('signs the extension with a stored-timestamp answer too', async () => {
    const h = await harness();
    await signVote(h, makeVote({ type: SignedMsgType.Precommit, extension, timestamp: TS1 }));
    const again = await signVote(h, makeVote({ type: SignedMsgType.Precommit, extension, timestamp: TS2 }));
    expect(again.vote.timestamp).toEqual(TS1);
    expect(again.vote.extensionSignature).toHaveLength(64);
  });

  it('refuses a prevote or a nil precommit with an extension without calling the sign path', async () => {
    const h = await harness();
    for (const vote of [
      makeVote({ type: SignedMsgType.Prevote, extension }),
      makeVote({ type: SignedMsgType.Precommit, blockId: emptyBlockId(), extension }),
    ]) {
      const res = await signVote(h, vote);
      expect(res.error?.description).toContain('unexpected-vote-extension');
      expectEmptyVote(res.vote);
    }
    expect(h.signPath.signCalls).toHaveLength(0);
    expect(h.signPath.extensionCalls).toHaveLength(0);
  });

  it('returns no extension signature for prevotes and nil precommits', async () => {
    const h = await harness();
    const prevote = await signVote(h, makeVote({ type: SignedMsgType.Prevote }));
    const nilPrecommit = await signVote(h, makeVote({ type: SignedMsgType.Precommit, blockId: emptyBlockId() }));
    expect(prevote.vote.extensionSignature).toHaveLength(0);
    expect(nilPrecommit.error).toBeNull();
    expect(nilPrecommit.vote.extensionSignature).toHaveLength(0);
    expect(h.signPath.extensionCalls).toHaveLength(0);
  });

  it('with skip_extension_signing signs the vote only', async () => {
    const h = await harness();
    const res = await signVote(h, makeVote({ type: SignedMsgType.Precommit, extension }), CHAIN, true);
    expect(res.error).toBeNull();
    expect(res.vote.extensionSignature).toHaveLength(0);
    expect(h.signPath.signCalls).toHaveLength(1);
    expect(h.signPath.extensionCalls).toHaveLength(0);
  });

  it('keeps the response small with a 1 MiB extension', async () => {
    const h = await harness();
    const big = new Uint8Array(1024 * 1024).fill(0xab);
    const vote = makeVote({ type: SignedMsgType.Precommit, extension: big, validatorAddress: key.addressBytes });
    h.node.send({ kind: 'signVoteRequest', value: { vote, chainId: CHAIN, skipExtensionSigning: false } });
    const frame = await h.node.nextFrame();
    expect(frame.length).toBeLessThan(MAX_RESPONSE_BYTES);
    const res = (decodeMessage(frame) as { value: SignedVoteResponse }).value;
    expect(res.error).toBeNull();
    expect(res.vote.extension).toHaveLength(0);
    expect(verifyEd25519(key.publicKey, voteExtensionSignBytes(CHAIN, vote), res.vote.extensionSignature)).toBe(true);
  });
});

describe('SignProposalRequest and SignBytesRequest', () => {
  it('signs a proposal at step 1', async () => {
    const h = await harness();
    const proposal = makeProposal({ polRound: 0, round: 1 });
    const res = await signProposal(h, proposal);
    expect(res.error).toBeNull();
    expect(verifyEd25519(key.publicKey, proposalSignBytes(CHAIN, proposal), res.proposal.signature)).toBe(true);
    expect(h.signPath.signCalls[0]).toEqual(expect.objectContaining({ step: 1, height: 10n, round: 1 }));
    expect(h.events[0]).toEqual(expect.objectContaining({ kind: 'signProposal', outcome: 'signed' }));
  });

  it("ignores the proposal's type field, as file.go does (the sign bytes always say 32)", async () => {
    const h = await harness();
    const res = await signProposal(h, makeProposal({ type: SignedMsgType.Prevote }));
    expect(res.error).toBeNull();
    expect(res.proposal.type).toBe(SignedMsgType.Prevote);
  });

  it('returns the stored timestamp for a proposal that differs only by timestamp', async () => {
    const h = await harness();
    const first = await signProposal(h, makeProposal({ timestamp: TS1 }));
    const again = await signProposal(h, makeProposal({ timestamp: TS2 }));
    expect(again.proposal.timestamp).toEqual(TS1);
    expect(again.proposal.signature).toEqual(first.proposal.signature);
  });

  it('refuses conflicting proposals, unknown chains, and malformed proposals', async () => {
    const h = await harness();
    await signProposal(h, makeProposal({ blockId: blockId(1) }));
    const conflicting = await signProposal(h, makeProposal({ blockId: blockId(3) }));
    expect(conflicting.error?.description).toContain('conflicting-data');
    expect(conflicting.proposal).toEqual(emptyProposal());
    const unknown = await signProposal(h, makeProposal({ height: 12n }), 'nope');
    expect(unknown.error?.description).toContain('unknown-chain');
    const badPol = await signProposal(h, makeProposal({ height: 12n, polRound: -2 }));
    expect(badPol.error?.description).toContain('invalid-request');
    const res = await h.node.request({ kind: 'signProposalRequest', value: { proposal: null, chainId: CHAIN } });
    expect((res as { value: SignedProposalResponse }).value.error?.description).toContain('invalid-request');
    expect(h.signPath.signCalls).toHaveLength(2);
  });

  it('refuses SignBytesRequest: raw bytes bypass double-sign protection', async () => {
    const h = await harness();
    const res = await h.node.request({ kind: 'signBytesRequest', value: { value: new Uint8Array([1, 2, 3]) } });
    expect(res.kind).toBe('signBytesResponse');
    const value = (res as { value: SignBytesResponse }).value;
    expect(value.signature).toHaveLength(0);
    expect(value.error?.description).toContain('raft-signer does not sign raw bytes: they bypass double-sign protection');
    expect(h.signPath.signCalls).toHaveLength(0);
    expect(h.signPath.extensionCalls).toHaveLength(0);
    expect(h.events[0]).toEqual(expect.objectContaining({ kind: 'signBytes', outcome: 'refused', reason: 'sign-bytes-refused' }));
  });
});

describe('bad input closes the connection with one warn line and touches nothing', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['an over-limit length prefix', encodeUvarint(2 * 1024 * 1024), /exceeds the limit/],
    ['a length prefix that is not a varint', new Uint8Array(11).fill(0xff), /not a valid uvarint|exceeds the limit/],
    ['a malformed message', encodeFrame(new Uint8Array([0x1a, 0x05, 0x0a, 0x09, 0x01])), /malformed privval message/],
    ['a known field with the wrong wire type', encodeFrame(new Uint8Array([0x18, 0x01])), /malformed privval message/],
    ['a response (SignedVoteResponse)', frame({ kind: 'signedVoteResponse', value: { vote: emptyVote(), error: null } }), /signedVoteResponse/],
    ['a response (PingResponse)', frame({ kind: 'pingResponse' }), /pingResponse/],
    ['an unknown message', encodeFrame(new Uint8Array([0x5a, 0x00])), /unknown privval message \(field 11\)/],
    ['an empty message', encodeFrame(new Uint8Array(0)), /empty privval message/],
  ];

  it.each(cases)('%s', async (_name, bytes, expected) => {
    const h = await harness();
    h.node.sendRaw(bytes);
    const end: SessionEnd = await within(h.session.closed, 5000, 'session end');
    expect(end.reason).toBe('bad-input');
    expect(end.message).toMatch(expected);
    await within(h.node.closed, 5000, 'the node side to see the close');
    await eventually(() => h.lines.some((l) => l.level === 'warn'), 'a warn line');
    const warns = h.lines.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]!.message).toMatch(expected);
    expect(h.signPath.signCalls).toHaveLength(0);
    expect(h.signPath.extensionCalls).toHaveLength(0);
  });

  it('a stream that ends inside a message', async () => {
    const h = await harness();
    const full = frame({ kind: 'signVoteRequest', value: { vote: makeVote(), chainId: CHAIN, skipExtensionSigning: false } });
    h.node.sendRaw(full.subarray(0, full.length - 5));
    h.node.socket.end();
    const end = await within(h.session.closed, 5000, 'session end');
    expect(end.reason).toBe('bad-input');
    expect(end.message).toMatch(/inside a message/);
    expect(h.signPath.signCalls).toHaveLength(0);
  });

  it('a stream destroyed inside a message', async () => {
    // A Duplex that is destroyed without an end (no EOF) while a message is half read.
    const stream = new Duplex({ read: () => undefined, write: (_chunk, _encoding, callback) => callback() });
    const signPath = new FakeSignPath({ [CHAIN]: key });
    const { logger } = captureLogger();
    const session = servePrivvalConnection(stream, { signPath, chainIds: [CHAIN], logger });
    const full = frame({ kind: 'pingRequest' });
    stream.push(Buffer.from(full.subarray(0, 1)));
    await new Promise((resolve) => setImmediate(resolve));
    stream.destroy();
    const end = await within(session.closed, 5000, 'session end');
    expect(end.reason).toBe('bad-input');
    expect(end.message).toMatch(/inside a message/);
  });

  it('a good request before the bad input is still answered', async () => {
    const h = await harness();
    expect(await h.node.request({ kind: 'pingRequest' })).toEqual({ kind: 'pingResponse' });
    h.node.sendRaw(encodeFrame(new Uint8Array([0xff])));
    expect((await within(h.session.closed, 5000, 'session end')).reason).toBe('bad-input');
  });
});

describe('session lifetime', () => {
  it('ends with peer-closed when the node closes between messages', async () => {
    const h = await harness();
    await h.node.request({ kind: 'pingRequest' });
    h.node.socket.end();
    const end = await within(h.session.closed, 5000, 'session end');
    expect(end.reason).toBe('peer-closed');
    expect(h.lines.filter((l) => l.level === 'warn')).toHaveLength(0);
  });

  it('close() ends it and closes the socket', async () => {
    const h = await harness();
    const end = await h.session.close();
    expect(end.reason).toBe('closed-locally');
    await within(h.node.closed, 5000, 'the node side to see the close');
    expect(h.signerSocket.destroyed).toBe(true);
  });

  it('closes a silent connection after idleTimeoutMs', async () => {
    const h = await harness({ idleTimeoutMs: 30 });
    const end = await within(h.session.closed, 5000, 'idle end');
    expect(end.reason).toBe('idle-timeout');
    await within(h.node.closed, 5000, 'the node side to see the close');
  });

  it('survives the node vanishing while a signature is pending, and drops the answer', async () => {
    const h = await harness();
    let release!: (o: SignOutcome) => void;
    h.signPath.override = (): Promise<SignOutcome> =>
      new Promise<SignOutcome>((resolve) => {
        release = resolve;
      });
    h.node.send({ kind: 'signVoteRequest', value: { vote: makeVote(), chainId: CHAIN, skipExtensionSigning: false } });
    await eventually(() => h.signPath.signCalls.length === 1, 'the sign call');
    h.node.socket.destroy();
    const end = await within(h.session.closed, 5000, 'session end while signing');
    expect(end.reason).toBe('peer-closed');
    release({ kind: 'signed', signature: new Uint8Array(64) });
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.session.requestsServed).toBe(0);
  });

  it('serves requests strictly one at a time, in order, even when the node pipelines them', async () => {
    const h = await harness();
    let active = 0;
    let maxActive = 0;
    h.signPath.override = async (req): Promise<SignOutcome> => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((resolve) => setTimeout(resolve, 2));
      active--;
      return { kind: 'signed', signature: key.sign(req.signBytes) };
    };
    const bytes = [1n, 2n, 3n, 4n].map((height) =>
      frame({ kind: 'signVoteRequest', value: { vote: makeVote({ height }), chainId: CHAIN, skipExtensionSigning: false } }),
    );
    h.node.sendRaw(Buffer.concat(bytes));
    const heights: bigint[] = [];
    for (let i = 0; i < 4; i++) heights.push(((await h.node.next()) as { value: SignedVoteResponse }).value.vote.height);
    expect(heights).toEqual([1n, 2n, 3n, 4n]);
    expect(maxActive).toBe(1);
  });
});
