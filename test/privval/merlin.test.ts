// Keccak-f[1600] (noble's permutation over our byte state) and Merlin/STROBE-128 against published
// vectors: SHA-3 and SHAKE from node:crypto (built with that permutation and the FIPS 202 padding) and the Merlin transcript
// vectors of vectors.json and of the Merlin reference tests.

import { createHash } from 'node:crypto';

import { KECCAK_STATE_BYTES, keccakF1600, Strobe128, Transcript } from '../../src/privval/merlin';

interface MerlinVector {
  about: string;
  protocolLabel: string;
  appends: [string, string][];
  extractLabel: string;
  expected: string;
}

// The "merlin" entries of the team's privval vectors.json (from the Merlin tests of
// oasisprotocol/curve25519-voi, which CometBFT uses), copied here so the suite runs from the
// repository alone.
const MERLIN_VECTORS: MerlinVector[] = [
  {
    about: 'NewTranscript("test protocol"); AppendMessage("some label", "some data"); ExtractBytes("challenge", 32)',
    protocolLabel: 'test protocol',
    appends: [['some label', 'some data']],
    extractLabel: 'challenge',
    expected: 'd5a21972d0d5fe320c0d263fac7fffb8145aa640af6e9bca177c03c7efcf0615',
  },
];

/** A Keccak sponge built on our permutation: FIPS 202 pad10*1 with the given domain bits. */
function sponge(message: Uint8Array, rateBytes: number, domainByte: number, outputBytes: number): string {
  const state = new Uint8Array(KECCAK_STATE_BYTES);
  const blocks = Math.floor(message.length / rateBytes) + 1;
  const padded = new Uint8Array(blocks * rateBytes);
  padded.set(message);
  padded[message.length] ^= domainByte;
  padded[padded.length - 1] ^= 0x80;
  for (let offset = 0; offset < padded.length; offset += rateBytes) {
    for (let i = 0; i < rateBytes; i++) state[i] ^= padded[offset + i];
    keccakF1600(state);
  }
  const out: number[] = [];
  for (;;) {
    for (let i = 0; i < rateBytes && out.length < outputBytes; i++) out.push(state[i]);
    if (out.length >= outputBytes) break;
    keccakF1600(state);
  }
  return Buffer.from(out).toString('hex');
}

/** Deterministic test bytes (no randomness: failures must replay). */
function patternBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe('Keccak-f[1600]', () => {
  // Lengths around the SHA3-256 rate (136) and SHAKE128 rate (168) hit the padding edge cases:
  // the pad byte and the final 0x80 in the same byte, and an extra block of pure padding.
  const lengths = [0, 1, 3, 135, 136, 137, 167, 168, 169, 271, 272, 1000];

  test.each(lengths)('SHA3-256 of %i bytes matches node:crypto', (n) => {
    const message = patternBytes(n, n + 1);
    const expected = createHash('sha3-256').update(message).digest('hex');
    expect(sponge(message, 136, 0x06, 32)).toBe(expected);
  });

  test('SHA3-256("abc") is the FIPS 202 example value', () => {
    expect(sponge(Buffer.from('abc'), 136, 0x06, 32)).toBe(
      '3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532',
    );
  });

  test.each(lengths)('SHAKE128 (400 bytes out, several squeezes) of %i bytes matches node:crypto', (n) => {
    const message = patternBytes(n, 7 * n + 3);
    const expected = createHash('shake128', { outputLength: 400 }).update(message).digest('hex');
    expect(sponge(message, 168, 0x1f, 400)).toBe(expected);
  });

  test('refuses a state that is not 200 bytes', () => {
    expect(() => keccakF1600(new Uint8Array(199))).toThrow(RangeError);
  });
});

describe('Merlin transcript', () => {
  test.each(MERLIN_VECTORS.map((v) => [v.about, v] as const))('%s', (_about, v) => {
    const transcript = new Transcript(v.protocolLabel);
    for (const [label, message] of v.appends) transcript.appendMessage(label, message);
    const challenge = transcript.extractBytes(v.extractLabel, 32);
    expect(Buffer.from(challenge).toString('hex')).toBe(v.expected);
  });

  // TestComplexTranscript of the Merlin reference tests (dalek-cryptography/merlin,
  // gtank/merlin, curve25519-voi): 1 KiB messages absorb across many STROBE blocks and each
  // extraction squeezes after a forced permutation, paths the short vector never reaches.
  test('complex transcript (multi-block absorb, repeated extraction)', () => {
    const transcript = new Transcript('test protocol');
    transcript.appendMessage('step1', 'some data');
    const bigData = new Uint8Array(1024).fill(99);
    let challenge: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < 32; i++) {
      challenge = transcript.extractBytes('challenge', 32);
      transcript.appendMessage('bigdata', bigData);
      transcript.appendMessage('challengedata', challenge);
    }
    expect(Buffer.from(challenge).toString('hex')).toBe(
      'a8c933f54fae76e3f9bea93648c1308e7dfa2152dd51674ff3ca438351cf003c',
    );
  });

  test('string and byte labels give the same transcript', () => {
    const a = new Transcript('p');
    a.appendMessage('l', 'm');
    const b = new Transcript(Buffer.from('p'));
    b.appendMessage(Buffer.from('l'), Buffer.from('m'));
    expect(Buffer.from(a.extractBytes('c', 32))).toEqual(Buffer.from(b.extractBytes(Buffer.from('c'), 32)));
  });

  test('every input changes the challenge (label, message, order)', () => {
    const challenge = (appends: [string, string][]): string => {
      const t = new Transcript('proto');
      for (const [l, m] of appends) t.appendMessage(l, m);
      return Buffer.from(t.extractBytes('c', 32)).toString('hex');
    };
    const base = challenge([['a', 'x'], ['b', 'y']]);
    expect(challenge([['a', 'x'], ['b', 'z']])).not.toBe(base);
    expect(challenge([['a', 'x'], ['c', 'y']])).not.toBe(base);
    expect(challenge([['b', 'y'], ['a', 'x']])).not.toBe(base);
    // Length framing: moving a byte from label to message must not collide.
    expect(challenge([['ax', ''], ['b', 'y']])).not.toBe(base);
    expect(challenge([['a', 'x'], ['b', 'y']])).toBe(base);
  });

  test('STROBE refuses to continue an operation with other flags', () => {
    const strobe = new Strobe128('p');
    strobe.metaAd(Buffer.from('label'), false);
    expect(() => strobe.ad(Buffer.from('x'), true)).toThrow(/cannot continue/);
  });
});
