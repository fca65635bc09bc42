// Deterministic fuzzing of everything that reads bytes from a validator node or from the
// slashing record: random bytes and mutated valid vectors go into the framing reader, the
// Message decoder, the canonical sign-bytes decoder and the FilePV decision. Each may only
// return a valid result or throw its typed error; nothing else, and nothing that hangs. A
// failure names the seed and case that reproduce it.

import { isDeepStrictEqual } from 'node:util';

import { emptyVote, decodeMessage, encodeMessage, PrivvalMessage, Vote } from '../../src/cometbft/messages';
import { FramingError, LengthPrefixedReader, encodeFrame } from '../../src/privval/framing';
import { ProtobufDecodeError } from '../../src/cometbft/protobuf';
import {
  SignBytesError,
  canonicalDifferences,
  decodeCanonicalSignBytes,
  proposalSignBytes,
  signBytesDifferOnlyByTimestamp,
  stepOf,
  voteSignBytes,
} from '../../src/cometbft/sign_bytes';
import { SlashingRecord, decideFilePv } from '../../src/cometbft/filepv_rules';
import { fuzzRandom as prng, FuzzRandom as Rng, mutate } from '../support/fuzz_input';
import { MESSAGE_VECTORS_V038, MESSAGE_VECTORS_V1, VOTE_SIGN_BYTES_CASES, unhex } from './vectors_fixture';

const SEED = 0x5eed_2024;




/** Runs `body`, accepting only the listed error types; returns what went wrong otherwise. */
function onlyTyped(body: () => void, allowed: (new (...args: never[]) => Error)[]): string | null {
  try {
    body();
    return null;
  } catch (e) {
    if (allowed.some((t) => e instanceof t)) return null;
    return `${(e as Error)?.name}: ${(e as Error)?.message}`;
  }
}

function comparable(msg: PrivvalMessage): PrivvalMessage {
  // `none` remembers field numbers that encoding (rightly) drops.
  return msg.kind === 'none' ? { kind: 'none', unknownFieldNumbers: [] } : msg;
}

const VALID_MESSAGES = [...Object.values(MESSAGE_VECTORS_V038), ...Object.values(MESSAGE_VECTORS_V1)].map(unhex);

/** Decodes, and for a successful decode checks that encode/decode is stable. */
function checkMessage(input: Uint8Array): void {
  const decoded = decodeMessage(input);
  const again = decodeMessage(encodeMessage(decoded));
  if (!isDeepStrictEqual(comparable(again), comparable(decoded))) {
    throw new Error('decode(encode(decoded)) differs from decoded');
  }
}

describe(`fuzz (seed ${SEED})`, () => {
  it('decodeMessage: random bytes give a message or a ProtobufDecodeError', () => {
    const rng = prng(SEED);
    const failures: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const input = rng.bytes(rng.int(200));
      const problem = onlyTyped(() => checkMessage(input), [ProtobufDecodeError]);
      if (problem) failures.push(`case ${i} ${Buffer.from(input).toString('hex')}: ${problem}`);
    }
    expect(failures).toEqual([]);
  });

  it('decodeMessage: mutated vectors give a message or a ProtobufDecodeError', () => {
    const rng = prng(SEED + 1);
    const failures: string[] = [];
    let decodedOk = 0;
    for (let i = 0; i < 4000; i++) {
      const input = mutate(VALID_MESSAGES[rng.int(VALID_MESSAGES.length)] as Uint8Array, rng);
      const problem = onlyTyped(() => {
        checkMessage(input);
        decodedOk++;
      }, [ProtobufDecodeError]);
      if (problem) failures.push(`case ${i} ${Buffer.from(input).toString('hex')}: ${problem}`);
    }
    expect(failures).toEqual([]);
    // The mutations must leave a fair share decodable, or this test would test nothing.
    expect(decodedOk).toBeGreaterThan(400);
  });

  it('LengthPrefixedReader: random streams in random chunks give frames or a FramingError', () => {
    const rng = prng(SEED + 2);
    const failures: string[] = [];
    for (let i = 0; i < 1500; i++) {
      // Valid frames, sometimes with garbage in between or a mutated prefix.
      const parts: Uint8Array[] = [];
      for (let k = rng.int(5); k > 0; k--) {
        const msg = VALID_MESSAGES[rng.int(VALID_MESSAGES.length)] as Uint8Array;
        const frame = encodeFrame(msg);
        parts.push(rng.int(4) === 0 ? mutate(frame, rng) : frame);
        if (rng.int(6) === 0) parts.push(rng.bytes(rng.int(12)));
      }
      const stream = Uint8Array.from(Buffer.concat(parts));
      const reader = new LengthPrefixedReader({ maxMessageSize: rng.int(2) === 0 ? 300 : undefined });
      const problem = onlyTyped(() => {
        let at = 0;
        while (at < stream.length) {
          const n = 1 + rng.int(64);
          for (const message of reader.push(stream.subarray(at, at + n))) {
            if (message.length > reader.maxMessageSize) throw new Error(`a ${message.length}-byte frame passed the limit`);
            const p = onlyTyped(() => checkMessage(message), [ProtobufDecodeError]);
            if (p) throw new Error(`decoding a frame: ${p}`);
          }
          at += n;
        }
        reader.end();
      }, [FramingError]);
      if (problem) failures.push(`case ${i} ${Buffer.from(stream).toString('hex')}: ${problem}`);
    }
    expect(failures).toEqual([]);
  });

  it('LengthPrefixedReader: unmodified streams come back exactly, however chunked', () => {
    const rng = prng(SEED + 3);
    for (let i = 0; i < 300; i++) {
      const messages = Array.from({ length: 1 + rng.int(6) }, () => rng.bytes(rng.int(400)));
      const stream = Uint8Array.from(Buffer.concat(messages.map(encodeFrame)));
      const reader = new LengthPrefixedReader();
      const out: Uint8Array[] = [];
      for (let at = 0; at < stream.length; ) {
        const n = 1 + rng.int(100);
        out.push(...reader.push(stream.subarray(at, at + n)));
        at += n;
      }
      reader.end();
      const same = out.length === messages.length && out.every((m, k) => Buffer.from(m).equals(Buffer.from(messages[k] as Uint8Array)));
      if (!same) throw new Error(`case ${i}: frames differ from the messages sent`);
    }
  });

  it('canonical sign bytes and the FilePV decision: mutations are parsed exactly or refused, never signed at the same HRS', () => {
    const rng = prng(SEED + 4);
    const failures: string[] = [];
    const blockHash = rng.bytes(32);
    const partsHash = rng.bytes(32);
    const vote: Vote = {
      ...emptyVote(),
      type: 2,
      height: 1000n,
      round: 2,
      blockId: { hash: blockHash, partSetHeader: { total: 3, hash: partsHash } },
      timestamp: { seconds: 1_700_000_000n, nanos: 42 },
    };
    const stored: Uint8Array[] = [
      voteSignBytes('chain', vote),
      voteSignBytes('chain', { ...vote, type: 1, blockId: { ...vote.blockId, hash: new Uint8Array(0) } }),
      proposalSignBytes('chain', { ...vote, polRound: -1 }),
      ...VOTE_SIGN_BYTES_CASES.map((c) => unhex(c.signBytes)),
    ];
    let parsedOk = 0;
    for (let i = 0; i < 3000; i++) {
      const original = stored[rng.int(stored.length)] as Uint8Array;
      const input = rng.int(10) === 0 ? rng.bytes(rng.int(80)) : mutate(original, rng);
      const problem = onlyTyped(() => {
        // 1. The decoder only accepts the canonical encoding of what it returns.
        let parsed;
        try {
          parsed = decodeCanonicalSignBytes(input);
        } catch (e) {
          if (!(e instanceof SignBytesError)) throw e;
        }
        if (parsed) {
          parsedOk++;
          const rebuilt =
            parsed.kind === 'vote'
              ? voteSignBytes(parsed.chainId, { ...emptyVote(), ...parsed, blockId: parsed.blockId ?? emptyVote().blockId })
              : proposalSignBytes(parsed.chainId, { ...parsed, blockId: parsed.blockId ?? emptyVote().blockId });
          expect(Buffer.from(rebuilt).equals(Buffer.from(input))).toBe(true);
        }
        // 2. The comparison throws nothing but SignBytesError.
        try {
          signBytesDifferOnlyByTimestamp(original, input);
        } catch (e) {
          if (!(e instanceof SignBytesError)) throw e;
        }
        // 3. The decision is total, and never signs again at a recorded HRS.
        const origParsed = decodeCanonicalSignBytes(original);
        let step: 1 | 2 | 3;
        try {
          step = stepOf(origParsed.type);
        } catch {
          return; // the type-less published vectors have no step
        }
        const record: SlashingRecord = {
          height: origParsed.height,
          round: origParsed.round,
          step,
          signBytes: original,
          signature: new Uint8Array(64).fill(1),
        };
        const decision = decideFilePv(record, { height: record.height, round: record.round, step, signBytes: input });
        expect(decision.kind).not.toBe('sign');
        if (decision.kind === 'same') expect(Buffer.from(input).equals(Buffer.from(original))).toBe(true);
        if (decision.kind === 'same-but-timestamp') {
          const diff = canonicalDifferences(origParsed, decodeCanonicalSignBytes(input));
          expect(diff.filter((d) => d !== 'timestamp')).toEqual([]);
          expect(decision.timestamp).toEqual(origParsed.timestamp);
        }
      }, []);
      if (problem) failures.push(`case ${i} ${Buffer.from(input).toString('hex')}: ${problem}`);
    }
    expect(failures).toEqual([]);
    expect(parsedOk).toBeGreaterThan(100);
  });
});
