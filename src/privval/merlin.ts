// Merlin transcripts (https://merlin.cool) over STROBE-128 (https://strobe.sourceforge.io), the
// subset CometBFT's SecretConnection needs: it derives the handshake challenge from a transcript
// labelled "TENDERMINT_SECRET_CONNECTION_TRANSCRIPT_HASH" (p2p/conn/secret_connection.go, via
// github.com/gtank/merlin). Only the STROBE operations Merlin uses are here: meta-AD, AD and PRF,
// each with the "more" (continue the previous operation) flag that Merlin uses for the length.
//
// Byte-for-byte compatibility is what matters: both peers must compute the same 32-byte
// challenge, or the authentication signatures never verify. The test pins this to the Merlin
// test vector in vectors.json.

import { keccakP } from '@noble/hashes/sha3.js';

/** Keccak-f[1600]'s state: 25 lanes of 64 bits. */
export const KECCAK_STATE_BYTES = 200;

/**
 * Keccak-f[1600] (24 rounds) over a 200-byte state in place, by @noble/hashes' permutation, which
 * takes the state as 50 little-endian 32-bit words: on a little-endian host (every platform Node
 * supports for us) that is the same memory, viewed without a copy.
 */
export function keccakF1600(state: Uint8Array): void {
  if (state.length !== KECCAK_STATE_BYTES || state.byteOffset % 4 !== 0) throw new RangeError(`the Keccak state is ${KECCAK_STATE_BYTES} aligned bytes, got ${state.length}`);
  keccakP(new Uint32Array(state.buffer, state.byteOffset, KECCAK_STATE_BYTES / 4), 24);
}

/** STROBE-128 rate in bytes: 200 - 2 * (128 / 8) - 2 (STROBE spec, section 5.1). */
const STROBE_R = 166;

// STROBE operation flags (STROBE spec, section 6.2).
const FLAG_I = 1;
const FLAG_A = 1 << 1;
const FLAG_C = 1 << 2;
const FLAG_T = 1 << 3;
const FLAG_M = 1 << 4;
const FLAG_K = 1 << 5;

const MERLIN_PROTOCOL_LABEL = 'Merlin v1.0';

function toBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

function le32(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`Merlin lengths are 32-bit unsigned, got ${n}`);
  }
  const out = Buffer.alloc(4);
  out.writeUInt32LE(n, 0);
  return out;
}

/**
 * STROBE-128 duplex state restricted to the operations Merlin uses (meta-AD, AD, PRF). Not a
 * general STROBE: no keys, no encryption, no transport flags.
 */
export class Strobe128 {
  private readonly state = new Uint8Array(KECCAK_STATE_BYTES);
  private pos = 0;
  private posBegin = 0;
  private curFlags = 0;

  constructor(protocolLabel: string | Uint8Array) {
    // Initial state: the STROBE domain separator (spec section 5.1) with the rate and security
    // level, then the permutation, then the protocol label as meta-AD. The version string is
    // "STROBEv1.0.2" without a hyphen (12 bytes), as in the STROBE reference code and every
    // Merlin implementation; the hyphenated spelling gives a different, incompatible state.
    this.state.set([1, STROBE_R + 2, 1, 0, 1, 96], 0);
    this.state.set(Buffer.from('STROBEv1.0.2', 'ascii'), 6);
    keccakF1600(this.state);
    this.metaAd(toBytes(protocolLabel), false);
  }

  /** Absorbs framing data (label, length): flags M | A. */
  metaAd(data: Uint8Array, more: boolean): void {
    this.beginOp(FLAG_M | FLAG_A, more);
    this.absorb(data);
  }

  /** Absorbs associated data: flag A. */
  ad(data: Uint8Array, more: boolean): void {
    this.beginOp(FLAG_A, more);
    this.absorb(data);
  }

  /** Squeezes n pseudo-random bytes: flags I | A | C. */
  prf(n: number, more: boolean): Uint8Array {
    this.beginOp(FLAG_I | FLAG_A | FLAG_C, more);
    return this.squeeze(n);
  }

  private runF(): void {
    this.state[this.pos] ^= this.posBegin;
    this.state[this.pos + 1] ^= 0x04;
    this.state[STROBE_R + 1] ^= 0x80;
    keccakF1600(this.state);
    this.pos = 0;
    this.posBegin = 0;
  }

  private absorb(data: Uint8Array): void {
    for (const byte of data) {
      this.state[this.pos] ^= byte;
      this.pos += 1;
      if (this.pos === STROBE_R) this.runF();
    }
  }

  private squeeze(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.state[this.pos];
      this.state[this.pos] = 0;
      this.pos += 1;
      if (this.pos === STROBE_R) this.runF();
    }
    return out;
  }

  private beginOp(flags: number, more: boolean): void {
    if (more) {
      // Continuing an operation: the flags must be the same, and nothing is absorbed.
      if (flags !== this.curFlags) {
        throw new Error(`STROBE: cannot continue operation 0x${this.curFlags.toString(16)} with 0x${flags.toString(16)}`);
      }
      return;
    }
    if ((flags & FLAG_T) !== 0) throw new Error('STROBE: transport operations are not supported');
    const oldBegin = this.posBegin;
    this.posBegin = this.pos + 1;
    this.curFlags = flags;
    this.absorb(Uint8Array.of(oldBegin, flags));
    // C and K operations must start on a fresh block (spec section 6.3).
    const forceF = (flags & (FLAG_C | FLAG_K)) !== 0;
    if (forceF && this.pos !== 0) this.runF();
  }
}

/**
 * A Merlin transcript: a running hash of labelled messages from which challenges are extracted.
 * Extraction changes the state, so the order of calls is part of the protocol.
 */
export class Transcript {
  private readonly strobe = new Strobe128(MERLIN_PROTOCOL_LABEL);

  constructor(label: string | Uint8Array) {
    this.appendMessage('dom-sep', label);
  }

  /** meta-AD(label) || meta-AD(LE32(len(message))) then AD(message). */
  appendMessage(label: string | Uint8Array, message: string | Uint8Array): void {
    const msg = toBytes(message);
    this.strobe.metaAd(toBytes(label), false);
    this.strobe.metaAd(le32(msg.length), true);
    this.strobe.ad(msg, false);
  }

  /** meta-AD(label) || meta-AD(LE32(n)) then PRF(n). */
  extractBytes(label: string | Uint8Array, n: number): Uint8Array {
    this.strobe.metaAd(toBytes(label), false);
    this.strobe.metaAd(le32(n), true);
    return this.strobe.prf(n, false);
  }
}
