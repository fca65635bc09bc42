// CometBFT SecretConnection: the authenticated encryption that wraps the privval tcp:// transport
// (cometbft p2p/conn/secret_connection.go, summarised in docs/privval/PROTOCOL.md). The validator node
// accepts the signer's connection and runs the same handshake; both sides are symmetric.
//
// Handshake:
//   1. exchange ephemeral X25519 public keys, each as a length-delimited BytesValue;
//   2. sort them (lo, hi), feed both and the DH secret into a Merlin transcript;
//   3. HKDF-SHA256 the DH secret into a receive key and a send key, split by who holds `lo`;
//   4. extract a 32-byte challenge from the transcript, and over the now encrypted channel
//      exchange AuthSigMessage {Ed25519 identity key, signature of the challenge}.
// After that, data moves in sealed frames of 1044 bytes: ChaCha20-Poly1305 over
// [uint32 LE length | up to 1024 data bytes | zero padding to 1028], one nonce counter per
// direction.
//
// Failures are SecretConnectionError with a code; every failure destroys the socket. Key material
// (ephemeral keys, DH secret, AEAD keys, the identity key) is never put into an error or a log.

import {
  KeyObject,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  sign as signMessage,
  timingSafeEqual,
  verify as verifySignature,
} from 'node:crypto';
import { Duplex } from 'node:stream';

import { Transcript } from './merlin';
import { isNodeId, nodeIdFromPublicKey } from './node_id';
import { RaftSignerError } from '../util/errors';

/** Most data bytes in one frame (cometbft dataMaxSize). */
export const FRAME_DATA_MAX_BYTES = 1024;
const FRAME_LENGTH_PREFIX_BYTES = 4;
/** Plain frame: length prefix, data and zero padding (cometbft totalFrameSize). */
export const PLAIN_FRAME_BYTES = FRAME_LENGTH_PREFIX_BYTES + FRAME_DATA_MAX_BYTES;
const AEAD_TAG_BYTES = 16;
/** What one frame occupies on the wire. */
export const SEALED_FRAME_BYTES = PLAIN_FRAME_BYTES + AEAD_TAG_BYTES;
const AEAD_KEY_BYTES = 32;
const AEAD_NONCE_BYTES = 12;
const X25519_KEY_BYTES = 32;
const ED25519_PUBLIC_KEY_BYTES = 32;
const ED25519_SEED_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
const CHALLENGE_BYTES = 32;

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000; // the validator node's privval read/write deadline

// Longest handshake messages we accept before any parsing. Honest peers send 34 bytes
// (BytesValue) and 102 bytes (AuthSigMessage); CometBFT's reader allows up to 1 MiB, but nothing
// legitimate comes near these bounds and they keep a hostile peer from making us buffer.
const MAX_EPHEMERAL_MESSAGE_BYTES = 256;
const MAX_AUTH_SIG_MESSAGE_BYTES = 1024;
// During the handshake stop reading from the socket beyond this much buffered input (a peer may
// pipeline its first request behind its handshake, but never megabytes).
const HANDSHAKE_INPUT_HIGH_WATER_BYTES = 64 * 1024;

// Labels of the handshake transcript and HKDF (cometbft p2p/conn/secret_connection.go).
const TRANSCRIPT_LABEL = 'TENDERMINT_SECRET_CONNECTION_TRANSCRIPT_HASH';
const LABEL_EPHEMERAL_LOWER = 'EPHEMERAL_LOWER_PUBLIC_KEY';
const LABEL_EPHEMERAL_UPPER = 'EPHEMERAL_UPPER_PUBLIC_KEY';
const LABEL_DH_SECRET = 'DH_SECRET';
const LABEL_MAC = 'SECRET_CONNECTION_MAC';
const HKDF_INFO = 'TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN';
const HKDF_OUTPUT_BYTES = 96;

// DER wrappers that turn raw 32-byte keys into node:crypto KeyObjects (RFC 8410).
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export type SecretConnectionErrorCode =
  /** Our own arguments are wrong (identity key, pinned key, timeout). */
  | 'INVALID_ARGUMENT'
  /** The peer's first message is not a BytesValue holding a 32-byte X25519 key. */
  | 'BAD_EPHEMERAL_KEY_MESSAGE'
  /** The peer's ephemeral key is a low-order point: the DH result is all zeros. */
  | 'LOW_ORDER_DH'
  /** The peer's AuthSigMessage is malformed or carries a key that is not Ed25519. */
  | 'BAD_AUTH_MESSAGE'
  /** The peer's signature of the challenge does not verify. */
  | 'AUTH_SIGNATURE_INVALID'
  /** The peer authenticated, but as another identity than the pinned one. */
  | 'REMOTE_KEY_MISMATCH'
  /** A sealed frame failed ChaCha20-Poly1305 authentication (tampering, corruption, desync). */
  | 'FRAME_AUTH_FAILED'
  /** An authenticated frame claims more than 1024 data bytes. */
  | 'FRAME_TOO_LONG'
  | 'HANDSHAKE_TIMEOUT'
  /** The peer closed (or the socket was destroyed) before the handshake finished. */
  | 'CLOSED_DURING_HANDSHAKE'
  /** The peer closed in the middle of a sealed frame. */
  | 'CLOSED_MID_FRAME'
  /** The socket reported an error; `cause` holds it. */
  | 'TRANSPORT_ERROR'
  /** 2^64 frames in one direction: never in practice, but never reuse a nonce. */
  | 'NONCE_EXHAUSTED';

export class SecretConnectionError extends RaftSignerError<{
  code: `SECRET_CONNECTION_${SecretConnectionErrorCode}`;
  connectionCode: SecretConnectionErrorCode;
}> {
  constructor(
    readonly code: SecretConnectionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    // `code` keeps its own meaning (SecretConnectionErrorCode); the base's type.code prefixes it.
    super({ code: `SECRET_CONNECTION_${code}`, connectionCode: code }, message, options);
    this.name = 'SecretConnectionError';
  }
}

export interface SecretConnectionOptions {
  /** Refuse the connection unless the peer authenticates with this Ed25519 public key. */
  expectedRemoteKey?: Uint8Array;
  /** Refuse the connection unless the peer's node id (see node_id.ts) is this one. */
  expectedRemoteNodeId?: string;
  /** Give up the handshake after this long (default 5000 ms, the node's own deadline). */
  handshakeTimeoutMs?: number;
}

/** The two AEAD keys of one side of a SecretConnection. */
export interface SecretConnectionKeys {
  recvSecret: Uint8Array;
  sendSecret: Uint8Array;
}

/**
 * HKDF-SHA256(ikm = dhSecret, no salt, info = "TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN"),
 * 96 bytes. Bytes [0, 64) are the two AEAD keys; [64, 96) was the challenge before CometBFT
 * moved it into the Merlin transcript (v0.34) and is unused.
 */
export function secretConnectionKeyMaterial(dhSecret: Uint8Array): Uint8Array {
  if (dhSecret.length !== X25519_KEY_BYTES) {
    throw new RangeError(`the DH secret is ${X25519_KEY_BYTES} bytes, got ${dhSecret.length}`);
  }
  return new Uint8Array(hkdfSync('sha256', dhSecret, Buffer.alloc(0), HKDF_INFO, HKDF_OUTPUT_BYTES));
}

/**
 * The receive/send split of cometbft deriveSecrets: the side whose ephemeral key sorts lower
 * receives with [0, 32) and sends with [32, 64); the other side the other way round, so each
 * side's send key is the other's receive key.
 */
export function deriveSecretConnectionKeys(dhSecret: Uint8Array, localIsLeast: boolean): SecretConnectionKeys {
  const okm = secretConnectionKeyMaterial(dhSecret);
  const first = okm.slice(0, AEAD_KEY_BYTES);
  const second = okm.slice(AEAD_KEY_BYTES, 2 * AEAD_KEY_BYTES);
  okm.fill(0);
  return localIsLeast ? { recvSecret: first, sendSecret: second } : { recvSecret: second, sendSecret: first };
}

/**
 * ChaCha20-Poly1305 for one direction of the connection: nonce = 4 zero bytes || uint64 LE
 * counter, +1 per frame (cometbft incrNonce), no associated data.
 */
class FrameCipher {
  private readonly key: Buffer;
  private readonly nonce = Buffer.alloc(AEAD_NONCE_BYTES);
  private exhausted = false;

  constructor(key: Uint8Array) {
    this.key = Buffer.from(key);
  }

  seal(plainFrame: Buffer): Buffer {
    const nonce = this.takeNonce();
    const cipher = createCipheriv('chacha20-poly1305', this.key, nonce, { authTagLength: AEAD_TAG_BYTES });
    const body = cipher.update(plainFrame);
    cipher.final();
    return Buffer.concat([body, cipher.getAuthTag()]);
  }

  /** Opens one sealed frame and returns its data bytes. */
  open(sealedFrame: Buffer): Buffer {
    const nonce = this.takeNonce();
    const decipher = createDecipheriv('chacha20-poly1305', this.key, nonce, { authTagLength: AEAD_TAG_BYTES });
    decipher.setAuthTag(sealedFrame.subarray(PLAIN_FRAME_BYTES, SEALED_FRAME_BYTES));
    let plainFrame: Buffer;
    try {
      const body = decipher.update(sealedFrame.subarray(0, PLAIN_FRAME_BYTES));
      decipher.final();
      plainFrame = body;
    } catch {
      throw new SecretConnectionError('FRAME_AUTH_FAILED', 'frame authentication failed (corrupted, forged or out-of-order frame)');
    }
    const dataLength = plainFrame.readUInt32LE(0);
    if (dataLength > FRAME_DATA_MAX_BYTES) {
      throw new SecretConnectionError(
        'FRAME_TOO_LONG',
        `frame claims ${dataLength} data bytes, more than the ${FRAME_DATA_MAX_BYTES} a frame can hold`,
      );
    }
    // Padding is not checked, as in CometBFT: it is authenticated, so it cannot be tampered with.
    return plainFrame.subarray(FRAME_LENGTH_PREFIX_BYTES, FRAME_LENGTH_PREFIX_BYTES + dataLength);
  }

  wipe(): void {
    this.key.fill(0);
  }

  private takeNonce(): Buffer {
    if (this.exhausted) throw new SecretConnectionError('NONCE_EXHAUSTED', 'frame counter exhausted; reconnect');
    const nonce = Buffer.from(this.nonce);
    // Increment the little-endian counter in bytes 4..11; wrapping to zero would reuse a nonce.
    let i = 4;
    while (i < AEAD_NONCE_BYTES) {
      this.nonce[i] = (this.nonce[i] + 1) & 0xff;
      if (this.nonce[i] !== 0) break;
      i++;
    }
    if (i === AEAD_NONCE_BYTES) this.exhausted = true;
    return nonce;
  }
}

/** Splits data into sealed frames of at most 1024 data bytes each (cometbft SecretConnection.Write). */
function sealFrames(cipher: FrameCipher, data: Buffer): Buffer {
  const sealed: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += FRAME_DATA_MAX_BYTES) {
    const chunk = data.subarray(offset, Math.min(offset + FRAME_DATA_MAX_BYTES, data.length));
    const frame = Buffer.alloc(PLAIN_FRAME_BYTES);
    frame.writeUInt32LE(chunk.length, 0);
    chunk.copy(frame, FRAME_LENGTH_PREFIX_BYTES);
    sealed.push(cipher.seal(frame));
  }
  return Buffer.concat(sealed);
}

// ---------------------------------------------------------------------------------------------
// The few protobuf messages of the handshake, by hand (the general codec lives elsewhere; this
// file must not depend on it). Wire format: tag = field << 3 | wire type; wire type 2 is
// length-delimited; "length-delimited message" on the socket means uvarint(size) || message
// (gogoproto protoio.NewDelimitedWriter).

function encodeUvarint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

type UvarintResult = { value: number; length: number } | 'incomplete' | 'malformed';

/** Decodes a uvarint at the start of buf; values above `max` are 'malformed'. */
function decodeUvarint(buf: Buffer, offset: number, max: number): UvarintResult {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (offset + i >= buf.length) return 'incomplete';
    const byte = buf[offset + i];
    value += (byte & 0x7f) * scale;
    if (value > max) return 'malformed';
    if ((byte & 0x80) === 0) return { value, length: i + 1 };
    scale *= 0x80;
  }
  return 'malformed';
}

interface ProtoField {
  field: number;
  wireType: number;
  /** Contents of a length-delimited field. */
  bytes?: Buffer;
}

/** Walks the fields of a protobuf message; returns undefined if it is not well formed. */
function parseProtoFields(message: Buffer): ProtoField[] | undefined {
  const fields: ProtoField[] = [];
  let offset = 0;
  while (offset < message.length) {
    const tag = decodeUvarint(message, offset, 0xffffffff);
    if (typeof tag === 'string') return undefined;
    offset += tag.length;
    const field = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    if (field === 0) return undefined;
    if (wireType === 0) {
      const v = decodeUvarint(message, offset, Number.MAX_SAFE_INTEGER);
      if (typeof v === 'string') {
        // A uvarint above 2^53 is still a valid field; skip it byte by byte.
        let end = offset;
        while (end < message.length && end - offset < 10 && (message[end] & 0x80) !== 0) end++;
        if (end >= message.length || end - offset >= 10) return undefined;
        offset = end + 1;
      } else {
        offset += v.length;
      }
      fields.push({ field, wireType });
    } else if (wireType === 1 || wireType === 5) {
      offset += wireType === 1 ? 8 : 4;
      if (offset > message.length) return undefined;
      fields.push({ field, wireType });
    } else if (wireType === 2) {
      const len = decodeUvarint(message, offset, message.length);
      if (typeof len === 'string') return undefined;
      offset += len.length;
      if (offset + len.value > message.length) return undefined;
      fields.push({ field, wireType, bytes: message.subarray(offset, offset + len.value) });
      offset += len.value;
    } else {
      return undefined; // groups (3, 4) and reserved wire types never appear in these messages
    }
  }
  return fields;
}

/** The single length-delimited field `field`, or undefined if absent, repeated or of another type. */
function singleBytesField(fields: ProtoField[], field: number): Buffer | undefined {
  const matches = fields.filter((f) => f.field === field);
  if (matches.length !== 1 || matches[0].bytes === undefined) return undefined;
  return matches[0].bytes;
}

/** google.protobuf.BytesValue { bytes value = 1 }, delimited: 22 0a 20 <32 bytes>. */
function encodeEphemeralKeyMessage(publicKey: Uint8Array): Buffer {
  const message = Buffer.concat([Buffer.from([0x0a, publicKey.length]), publicKey]);
  return Buffer.concat([encodeUvarint(message.length), message]);
}

function parseEphemeralKeyMessage(message: Buffer): Buffer {
  const fields = parseProtoFields(message);
  const value = fields === undefined ? undefined : singleBytesField(fields, 1);
  if (value === undefined || value.length !== X25519_KEY_BYTES) {
    throw new SecretConnectionError(
      'BAD_EPHEMERAL_KEY_MESSAGE',
      `the peer's ephemeral key message is not a BytesValue with a ${X25519_KEY_BYTES}-byte key`,
    );
  }
  return Buffer.from(value);
}

/**
 * tendermint.p2p.AuthSigMessage { tendermint.crypto.PublicKey pub_key = 1; bytes sig = 2 } with
 * PublicKey { oneof sum { bytes ed25519 = 1; bytes secp256k1 = 2; } }, delimited:
 * 66 | 0a 22 | 0a 20 <32-byte key> | 12 40 <64-byte signature>.
 */
function encodeAuthSigMessage(publicKey: Uint8Array, signature: Uint8Array): Buffer {
  const pubKeyMessage = Buffer.concat([Buffer.from([0x0a, publicKey.length]), publicKey]);
  const message = Buffer.concat([
    Buffer.from([0x0a, pubKeyMessage.length]),
    pubKeyMessage,
    Buffer.from([0x12, signature.length]),
    signature,
  ]);
  return Buffer.concat([encodeUvarint(message.length), message]);
}

function parseAuthSigMessage(message: Buffer): { publicKey: Buffer; signature: Buffer } {
  const malformed = (why: string): SecretConnectionError =>
    new SecretConnectionError('BAD_AUTH_MESSAGE', `the peer's AuthSigMessage ${why}`);
  const fields = parseProtoFields(message);
  if (fields === undefined) throw malformed('is not a well-formed protobuf message');
  const pubKeyMessage = singleBytesField(fields, 1);
  const signature = singleBytesField(fields, 2);
  if (pubKeyMessage === undefined) throw malformed('has no (or a repeated) pub_key');
  if (signature === undefined) throw malformed('has no (or a repeated) sig');
  const keyFields = parseProtoFields(pubKeyMessage);
  if (keyFields === undefined) throw malformed('has a malformed pub_key');
  const ed25519 = singleBytesField(keyFields, 1);
  // CometBFT refuses any identity that is not Ed25519 (MakeSecretConnection), so do we.
  if (ed25519 === undefined || keyFields.length !== 1) throw malformed('carries a key that is not Ed25519');
  if (ed25519.length !== ED25519_PUBLIC_KEY_BYTES) throw malformed(`has an Ed25519 key of ${ed25519.length} bytes`);
  if (signature.length !== ED25519_SIGNATURE_BYTES) throw malformed(`has a signature of ${signature.length} bytes`);
  return { publicKey: Buffer.from(ed25519), signature: Buffer.from(signature) };
}

// ---------------------------------------------------------------------------------------------
// Handshake input: buffers socket bytes until the handshake asks for them, then hands the rest
// over to the SecretConnection without losing a byte.

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk), 'utf8');
}

interface HandedOverInput {
  buffered: Buffer;
  /** The socket reported EOF or close before the hand-over. */
  ended: boolean;
}

class HandshakeInput {
  private buffered: Buffer = Buffer.alloc(0);
  private ended = false;
  private failure: SecretConnectionError | undefined;
  private wakeUp: (() => void) | undefined;
  private pausedByUs = false;
  private attached = true;

  constructor(private readonly socket: Duplex) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Stops the handshake with this error at the next (or the pending) read. */
  fail(error: SecretConnectionError): void {
    if (this.failure === undefined) this.failure = error;
    this.notify();
  }

  async readExactly(n: number): Promise<Buffer> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (this.buffered.length >= n) break;
      if (this.ended) {
        throw new SecretConnectionError('CLOSED_DURING_HANDSHAKE', 'the peer closed the connection during the handshake');
      }
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
      });
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    if (this.pausedByUs && this.buffered.length < HANDSHAKE_INPUT_HIGH_WATER_BYTES) {
      this.pausedByUs = false;
      this.socket.resume();
    }
    return out;
  }

  /** Reads one uvarint-delimited message of at most maxBytes; returns undefined if too long or malformed. */
  async readDelimited(maxBytes: number): Promise<Buffer | undefined> {
    const prefix: number[] = [];
    for (;;) {
      const byte = (await this.readExactly(1))[0];
      prefix.push(byte);
      const decoded = decodeUvarint(Buffer.from(prefix), 0, maxBytes);
      if (decoded === 'malformed') return undefined;
      if (decoded !== 'incomplete') return this.readExactly(decoded.value);
    }
  }

  /** Removes our listeners (keeping a sink for late socket errors) and returns what is buffered. */
  handOver(): HandedOverInput {
    this.detach();
    if (this.failure !== undefined) throw this.failure;
    return { buffered: this.buffered, ended: this.ended };
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    // A socket error with no listener would crash the process; the caller has the socket's fate
    // in hand now (destroyed, or watched by the SecretConnection).
    this.socket.on('error', ignoreLateSocketError);
  }

  private readonly onData = (chunk: unknown): void => {
    const bytes = toBuffer(chunk);
    this.buffered = this.buffered.length === 0 ? bytes : Buffer.concat([this.buffered, bytes]);
    if (!this.pausedByUs && this.buffered.length >= HANDSHAKE_INPUT_HIGH_WATER_BYTES) {
      this.pausedByUs = true;
      this.socket.pause();
    }
    this.notify();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };

  private readonly onError = (err: Error): void => {
    const code = (err as NodeJS.ErrnoException).code;
    // A write into a connection the peer has closed fails with one of these; the cause is the
    // closure, and that is what the caller should hear.
    const closedByPeer =
      this.ended || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_WRITE_AFTER_END' || code === 'ERR_STREAM_DESTROYED';
    this.fail(
      closedByPeer
        ? new SecretConnectionError('CLOSED_DURING_HANDSHAKE', `the connection closed during the handshake: ${err.message}`, { cause: err })
        : new SecretConnectionError('TRANSPORT_ERROR', `socket error during the handshake: ${err.message}`, { cause: err }),
    );
  };

  private notify(): void {
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    wake?.();
  }
}

function ignoreLateSocketError(): void {
  // Deliberately empty: see HandshakeInput.detach.
}

// ---------------------------------------------------------------------------------------------
// Keys

function identityPrivateKey(identity: KeyObject | Uint8Array): KeyObject {
  if (identity instanceof KeyObject) {
    if (identity.type !== 'private' || identity.asymmetricKeyType !== 'ed25519') {
      throw new SecretConnectionError('INVALID_ARGUMENT', 'the identity must be an Ed25519 private key');
    }
    return identity;
  }
  if (!(identity instanceof Uint8Array) || identity.length !== ED25519_SEED_BYTES) {
    throw new SecretConnectionError('INVALID_ARGUMENT', `the identity seed must be ${ED25519_SEED_BYTES} bytes`);
  }
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, identity]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function rawPublicKey(key: KeyObject): Buffer {
  // SPKI of an RFC 8410 key: the 12-byte prefix above, then the 32 raw bytes.
  const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(spki.length - 32));
}

function x25519DhSecret(localPrivate: KeyObject, remotePublic: Buffer): Buffer {
  let secret: Buffer;
  try {
    const remoteKey = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, remotePublic]), format: 'der', type: 'spki' });
    secret = diffieHellman({ privateKey: localPrivate, publicKey: remoteKey });
  } catch {
    // OpenSSL itself refuses an all-zero X25519 result; any failure here is the peer's key.
    throw new SecretConnectionError('LOW_ORDER_DH', 'the peer sent a low-order ephemeral key (all-zero DH secret)');
  }
  // cometbft computeDHSecret (curve25519.X25519) refuses an all-zero result: it means the peer
  // chose a low-order point and could know the "secret" without a private key.
  if (secret.length !== X25519_KEY_BYTES || secret.every((b) => b === 0)) {
    throw new SecretConnectionError('LOW_ORDER_DH', 'the peer sent a low-order ephemeral key (all-zero DH secret)');
  }
  return secret;
}

// ---------------------------------------------------------------------------------------------
// The connection

interface EstablishedSession {
  remotePublicKey: Buffer;
  sendCipher: FrameCipher;
  recvCipher: FrameCipher;
  /** Decrypted bytes that arrived behind the peer's AuthSigMessage. */
  plaintextAfterAuth: Buffer;
}

/**
 * An established SecretConnection: a Duplex of plaintext bytes. write() seals and sends (every
 * write is split into frames of at most 1024 bytes; message boundaries are not preserved, as in
 * CometBFT), 'data' / async iteration yields decrypted bytes. A frame that fails authentication
 * or is malformed destroys the connection with a SecretConnectionError. Create it with
 * makeSecretConnection.
 */
export class SecretConnection extends Duplex {
  /** The peer's authenticated Ed25519 identity key. */
  readonly remotePublicKey: Uint8Array;
  /** CometBFT node id of remotePublicKey. */
  readonly remoteNodeId: string;

  private readonly socket: Duplex;
  private readonly sendCipher: FrameCipher;
  private readonly recvCipher: FrameCipher;
  private pendingSealed: Buffer;
  private inputFinished = false;
  private pausedByUs = false;

  /**
   * @internal use makeSecretConnection. Takes over the socket with the input the handshake
   * already decrypted (`initialPlaintext`) and the start of the next sealed frame
   * (`pendingSealed`, shorter than a frame). Nothing here can fail: an error emitted before
   * the caller holds the object would have no listener.
   */
  constructor(socket: Duplex, session: EstablishedSession, initialPlaintext: Buffer, pendingSealed: Buffer, inputEnded: boolean) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    this.remotePublicKey = new Uint8Array(session.remotePublicKey);
    this.remoteNodeId = nodeIdFromPublicKey(this.remotePublicKey);
    this.sendCipher = session.sendCipher;
    this.recvCipher = session.recvCipher;
    this.pendingSealed = pendingSealed;

    socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('close', this.onSocketEnd);
    socket.on('error', this.onSocketError);

    if (initialPlaintext.length > 0) this.push(initialPlaintext);
    if (inputEnded) {
      this.inputFinished = true;
      this.push(null);
    } else if (socket.isPaused()) {
      // Our HandshakeInput may have paused it; from now on flow follows our reader.
      this.pausedByUs = true;
    }
  }

  override _read(): void {
    if (this.pausedByUs) {
      this.pausedByUs = false;
      this.socket.resume();
    }
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let sealed: Buffer;
    try {
      sealed = sealFrames(this.sendCipher, toBuffer(chunk));
    } catch (err) {
      callback(err as Error);
      return;
    }
    if (sealed.length === 0) {
      callback();
      return;
    }
    this.socket.write(sealed, (err) => {
      if (err) callback(new SecretConnectionError('TRANSPORT_ERROR', `write failed: ${err.message}`, { cause: err }));
      else callback();
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.off('data', this.onSocketData);
    this.socket.off('end', this.onSocketEnd);
    this.socket.off('close', this.onSocketEnd);
    // Keep an error listener: the socket may still report one while it goes down.
    this.socket.off('error', this.onSocketError);
    this.socket.on('error', ignoreLateSocketError);
    this.socket.destroy();
    this.sendCipher.wipe();
    this.recvCipher.wipe();
    callback(error);
  }

  private readonly onSocketData = (chunk: unknown): void => {
    if (this.destroyed || this.inputFinished) return;
    const bytes = toBuffer(chunk);
    this.pendingSealed = this.pendingSealed.length === 0 ? bytes : Buffer.concat([this.pendingSealed, bytes]);
    this.openPendingFrames();
  };

  private openPendingFrames(): void {
    let offset = 0;
    while (!this.destroyed && this.pendingSealed.length - offset >= SEALED_FRAME_BYTES) {
      let data: Buffer;
      try {
        data = this.recvCipher.open(this.pendingSealed.subarray(offset, offset + SEALED_FRAME_BYTES));
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      offset += SEALED_FRAME_BYTES;
      // Copy, so a chunk the consumer keeps does not pin the whole 1028-byte frame.
      if (data.length > 0 && !this.push(Buffer.from(data)) && !this.pausedByUs) {
        this.pausedByUs = true;
        this.socket.pause();
      }
    }
    this.pendingSealed = this.pendingSealed.subarray(offset);
  }

  private readonly onSocketEnd = (): void => {
    if (this.destroyed || this.inputFinished) return;
    this.inputFinished = true;
    if (this.pendingSealed.length > 0) {
      this.destroy(
        new SecretConnectionError(
          'CLOSED_MID_FRAME',
          `the peer closed the connection inside a frame (${this.pendingSealed.length} of ${SEALED_FRAME_BYTES} bytes)`,
        ),
      );
      return;
    }
    this.push(null);
  };

  private readonly onSocketError = (err: Error): void => {
    this.destroy(new SecretConnectionError('TRANSPORT_ERROR', `socket error: ${err.message}`, { cause: err }));
  };
}

/** Opens every whole sealed frame in `sealed`; returns their data and the incomplete rest. */
function openCompleteFrames(cipher: FrameCipher, sealed: Buffer): { plaintext: Buffer; remainder: Buffer } {
  const chunks: Buffer[] = [];
  let offset = 0;
  for (; sealed.length - offset >= SEALED_FRAME_BYTES; offset += SEALED_FRAME_BYTES) {
    chunks.push(cipher.open(sealed.subarray(offset, offset + SEALED_FRAME_BYTES)));
  }
  return { plaintext: Buffer.concat(chunks), remainder: Buffer.from(sealed.subarray(offset)) };
}

function checkOptions(opts: SecretConnectionOptions): number {
  const timeout = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new SecretConnectionError('INVALID_ARGUMENT', `handshakeTimeoutMs must be a positive number, got ${timeout}`);
  }
  if (opts.expectedRemoteKey !== undefined && opts.expectedRemoteKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new SecretConnectionError('INVALID_ARGUMENT', `expectedRemoteKey must be ${ED25519_PUBLIC_KEY_BYTES} bytes`);
  }
  if (opts.expectedRemoteNodeId !== undefined && !isNodeId(opts.expectedRemoteNodeId)) {
    throw new SecretConnectionError('INVALID_ARGUMENT', 'expectedRemoteNodeId must be 40 hex digits');
  }
  return timeout;
}

async function runHandshake(
  socket: Duplex,
  input: HandshakeInput,
  identity: KeyObject,
  opts: SecretConnectionOptions,
): Promise<EstablishedSession> {
  // 1. Ephemeral keys, sent and received at once (both sides write first, so no deadlock).
  const ephemeral = generateKeyPairSync('x25519');
  const localEphemeralPublic = rawPublicKey(ephemeral.publicKey);
  socket.write(encodeEphemeralKeyMessage(localEphemeralPublic));
  const ephemeralMessage = await input.readDelimited(MAX_EPHEMERAL_MESSAGE_BYTES);
  if (ephemeralMessage === undefined) {
    throw new SecretConnectionError('BAD_EPHEMERAL_KEY_MESSAGE', "the peer's ephemeral key message has a malformed or oversized length prefix");
  }
  const remoteEphemeralPublic = parseEphemeralKeyMessage(ephemeralMessage);
  if (remoteEphemeralPublic.equals(localEphemeralPublic)) {
    // Only a reflection of our own message can do this; refuse rather than talk to ourselves.
    throw new SecretConnectionError('BAD_EPHEMERAL_KEY_MESSAGE', 'the peer sent back our own ephemeral key');
  }

  // 2-6. Transcript, DH, keys, challenge.
  const localIsLeast = Buffer.compare(localEphemeralPublic, remoteEphemeralPublic) < 0;
  const [lo, hi] = localIsLeast ? [localEphemeralPublic, remoteEphemeralPublic] : [remoteEphemeralPublic, localEphemeralPublic];
  const transcript = new Transcript(TRANSCRIPT_LABEL);
  transcript.appendMessage(LABEL_EPHEMERAL_LOWER, lo);
  transcript.appendMessage(LABEL_EPHEMERAL_UPPER, hi);
  const dhSecret = x25519DhSecret(ephemeral.privateKey, remoteEphemeralPublic);
  transcript.appendMessage(LABEL_DH_SECRET, dhSecret);
  const keys = deriveSecretConnectionKeys(dhSecret, localIsLeast);
  dhSecret.fill(0);
  const challenge = transcript.extractBytes(LABEL_MAC, CHALLENGE_BYTES);
  const sendCipher = new FrameCipher(keys.sendSecret);
  const recvCipher = new FrameCipher(keys.recvSecret);
  keys.sendSecret.fill(0);
  keys.recvSecret.fill(0);

  // 8. Authenticate over the encrypted channel.
  const localSignature = signMessage(null, challenge, identity);
  socket.write(sealFrames(sendCipher, encodeAuthSigMessage(rawPublicKey(identity), localSignature)));

  let plaintext: Buffer = Buffer.alloc(0);
  let authMessage: Buffer | undefined;
  while (authMessage === undefined) {
    const prefix = decodeUvarint(plaintext, 0, MAX_AUTH_SIG_MESSAGE_BYTES);
    if (prefix === 'malformed') {
      throw new SecretConnectionError('BAD_AUTH_MESSAGE', "the peer's AuthSigMessage has a malformed or oversized length prefix");
    }
    if (prefix !== 'incomplete' && plaintext.length >= prefix.length + prefix.value) {
      authMessage = plaintext.subarray(prefix.length, prefix.length + prefix.value);
      plaintext = plaintext.subarray(prefix.length + prefix.value);
      break;
    }
    const sealed = await input.readExactly(SEALED_FRAME_BYTES);
    plaintext = Buffer.concat([plaintext, recvCipher.open(sealed)]);
  }
  const auth = parseAuthSigMessage(authMessage);
  let remoteKey: KeyObject;
  try {
    remoteKey = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, auth.publicKey]), format: 'der', type: 'spki' });
  } catch {
    throw new SecretConnectionError('BAD_AUTH_MESSAGE', "the peer's Ed25519 identity key is not a valid key");
  }
  let signatureValid: boolean;
  try {
    signatureValid = verifySignature(null, challenge, remoteKey, auth.signature);
  } catch {
    signatureValid = false;
  }
  if (!signatureValid) {
    throw new SecretConnectionError('AUTH_SIGNATURE_INVALID', "the peer's signature of the handshake challenge does not verify");
  }

  // Pinning: only after the signature proves the peer holds the key it claims.
  const remoteNodeId = nodeIdFromPublicKey(auth.publicKey);
  if (opts.expectedRemoteKey !== undefined) {
    const expected = Buffer.from(opts.expectedRemoteKey);
    if (!timingSafeEqual(expected, auth.publicKey)) {
      throw new SecretConnectionError(
        'REMOTE_KEY_MISMATCH',
        `the peer authenticated as node ${remoteNodeId}, not as the pinned key of node ${nodeIdFromPublicKey(expected)}`,
      );
    }
  }
  if (opts.expectedRemoteNodeId !== undefined && opts.expectedRemoteNodeId.toLowerCase() !== remoteNodeId) {
    throw new SecretConnectionError(
      'REMOTE_KEY_MISMATCH',
      `the peer authenticated as node ${remoteNodeId}, not as the pinned node ${opts.expectedRemoteNodeId.toLowerCase()}`,
    );
  }
  return { remotePublicKey: auth.publicKey, sendCipher, recvCipher, plaintextAfterAuth: plaintext };
}

/**
 * Runs the SecretConnection handshake on a connected socket as `identity` (an Ed25519 private
 * KeyObject or its 32-byte seed) and resolves to the established connection. Rejects with a
 * SecretConnectionError, and destroys the socket, on any failure: bad peer messages, a low-order
 * key, a bad signature, a pinned key mismatch, the socket closing, or the timeout.
 */
export async function makeSecretConnection(
  socket: Duplex,
  identity: KeyObject | Uint8Array,
  opts: SecretConnectionOptions = {},
): Promise<SecretConnection> {
  const input = new HandshakeInput(socket);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeoutMs = checkOptions(opts);
    if (socket.readableEncoding !== null || socket.readableObjectMode) {
      throw new SecretConnectionError('INVALID_ARGUMENT', 'the socket must deliver raw bytes (no setEncoding, no object mode)');
    }
    const identityKey = identityPrivateKey(identity);
    timer = setTimeout(() => {
      input.fail(new SecretConnectionError('HANDSHAKE_TIMEOUT', `the SecretConnection handshake did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    const session = await runHandshake(socket, input, identityKey, opts);
    clearTimeout(timer);
    // One synchronous step from here on: take the socket over from the handshake reader, so no
    // byte is lost. Frames that arrived behind the peer's AuthSigMessage are opened now, so a bad
    // one fails the handshake instead of erroring a connection nobody listens to yet.
    const handed = input.handOver();
    const opened = openCompleteFrames(session.recvCipher, handed.buffered);
    if (handed.ended && opened.remainder.length > 0) {
      throw new SecretConnectionError('CLOSED_MID_FRAME', 'the peer closed the connection inside a frame right after the handshake');
    }
    const initialPlaintext = Buffer.concat([session.plaintextAfterAuth, opened.plaintext]);
    return new SecretConnection(socket, session, initialPlaintext, opened.remainder, handed.ended);
  } catch (err) {
    if (timer !== undefined) clearTimeout(timer);
    input.detach();
    socket.destroy();
    if (err instanceof SecretConnectionError) throw err;
    throw new SecretConnectionError('TRANSPORT_ERROR', `SecretConnection handshake failed: ${(err as Error).message}`, { cause: err });
  }
}
