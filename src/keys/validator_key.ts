// The validator's Ed25519 consensus key, and CometBFT's priv_validator_key.json that holds it.
//
// File format (CometBFT privval.FilePVKey, written with json.MarshalIndent(.., "", "  ")):
//   {"address": HEX(first 20 bytes of SHA-256(pub)),
//    "pub_key":  {"type": "tendermint/PubKeyEd25519",  "value": b64(pub32)},
//    "priv_key": {"type": "tendermint/PrivKeyEd25519", "value": b64(seed32 || pub32)}}
// CometBFT itself recomputes the public key and address from the private key and ignores what the
// file says; we refuse a file whose parts disagree, because such a file was edited or assembled by
// hand and the operator should learn which key they are really about to sign with.
//
// The secret lives only inside a node:crypto KeyObject held in an ES private field: it is not an
// enumerable property, util.inspect and JSON.stringify print only the public half, and the only
// ways to get the seed out are the explicitly named export methods.

import crypto from 'node:crypto';
import util from 'node:util';
import { KeyFileError, readSecretFile, writeSecretFile, WriteSecretFileOptions } from './key_file_permissions';

export const PUB_KEY_TYPE_ED25519 = 'tendermint/PubKeyEd25519';
export const PRIV_KEY_TYPE_ED25519 = 'tendermint/PrivKeyEd25519';
export const ED25519_SEED_LENGTH = 32;
export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;
/** CometBFT's validator address: the first 20 bytes of SHA-256(public key). */
export const VALIDATOR_ADDRESS_LENGTH = 20;

// DER prefixes that wrap a raw Ed25519 key for node:crypto (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The key material or the key file is wrong; the message says what and what to do. */
export class ValidatorKeyError extends KeyFileError<{ code: 'VALIDATOR_KEY_INVALID'; path: string }> {
  constructor(source: string, message: string) {
    super(source, message, { code: 'VALIDATOR_KEY_INVALID', path: source });
    this.name = 'ValidatorKeyError';
  }
}

/** CometBFT's JSON form of priv_validator_key.json. */
export interface PrivValidatorKeyJson {
  address: string;
  pub_key: { type: string; value: string };
  priv_key: { type: string; value: string };
}

export class ValidatorKey {
  readonly #privateKey: crypto.KeyObject;
  readonly #publicKeyObject: crypto.KeyObject;
  readonly #publicKey: Uint8Array;
  /** Upper-case hex of the 20-byte address, as CometBFT prints it. */
  readonly address: string;

  private constructor(privateKey: crypto.KeyObject) {
    this.#privateKey = privateKey;
    this.#publicKeyObject = crypto.createPublicKey(privateKey);
    const spki = this.#publicKeyObject.export({ format: 'der', type: 'spki' });
    this.#publicKey = new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length));
    this.address = addressFromPublicKey(this.#publicKey);
  }

  /** A fresh key from the operating system's CSPRNG. */
  static generate(): ValidatorKey {
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    return new ValidatorKey(privateKey);
  }

  /** The key for a 32-byte Ed25519 seed (RFC 8032 private key). */
  static fromSeed(seed: Uint8Array): ValidatorKey {
    if (seed.length !== ED25519_SEED_LENGTH) {
      throw new RangeError(`an Ed25519 seed is ${ED25519_SEED_LENGTH} bytes, got ${seed.length}`);
    }
    const der = Buffer.concat([PKCS8_ED25519_PREFIX, seed]);
    try {
      return new ValidatorKey(crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
    } finally {
      der.fill(0);
    }
  }

  /** The 32-byte public key (a copy: callers cannot alter the key's own). */
  get publicKey(): Uint8Array {
    return new Uint8Array(this.#publicKey);
  }

  /** The 20-byte address. */
  get addressBytes(): Uint8Array {
    return new Uint8Array(Buffer.from(this.address, 'hex'));
  }

  /** The public key in base64, as CometBFT's JSON shows it. */
  get publicKeyBase64(): string {
    return Buffer.from(this.#publicKey).toString('base64');
  }

  /** An Ed25519 signature (64 bytes) of `message`. Deterministic: same message, same signature. */
  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(crypto.sign(null, message, this.#privateKey));
  }

  /** Whether `signature` is this key's signature of `message`. */
  verify(message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== ED25519_SIGNATURE_LENGTH) return false;
    return crypto.verify(null, message, this.#publicKeyObject, signature);
  }

  /**
   * The 32-byte secret seed. Only for writing the key to a file (plain or encrypted); the caller
   * must `fill(0)` the buffer when done and must never log it.
   */
  exportSecretSeed(): Buffer {
    const pkcs8 = this.#privateKey.export({ format: 'der', type: 'pkcs8' });
    const seed = Buffer.from(pkcs8.subarray(PKCS8_ED25519_PREFIX.length));
    pkcs8.fill(0);
    return seed;
  }

  /** priv_validator_key.json content, secret included, exactly as CometBFT writes it. */
  exportPrivValidatorKeyJson(): string {
    const seed = this.exportSecretSeed();
    const seedAndPub = Buffer.concat([seed, this.#publicKey]);
    try {
      const json: PrivValidatorKeyJson = {
        address: this.address,
        pub_key: { type: PUB_KEY_TYPE_ED25519, value: this.publicKeyBase64 },
        priv_key: { type: PRIV_KEY_TYPE_ED25519, value: seedAndPub.toString('base64') },
      };
      return JSON.stringify(json, null, 2);
    } finally {
      seed.fill(0);
      seedAndPub.fill(0);
    }
  }

  /** Whether both keys are the same key (compares public keys; the seed determines them). */
  equals(other: ValidatorKey): boolean {
    return Buffer.from(this.#publicKey).equals(Buffer.from(other.#publicKey));
  }

  /** Public half only, so that a key passed to a logger or JSON.stringify reveals nothing secret. */
  toJSON(): { address: string; pub_key: { type: string; value: string } } {
    return { address: this.address, pub_key: { type: PUB_KEY_TYPE_ED25519, value: this.publicKeyBase64 } };
  }

  toString(): string {
    return `ValidatorKey(address=${this.address}, pub_key=${this.publicKeyBase64})`;
  }

  [util.inspect.custom](): string {
    return this.toString();
  }
}

/** CometBFT's address of an Ed25519 public key: upper-case hex of SHA-256(pub)[0:20]. */
export function addressFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) {
    throw new RangeError(`an Ed25519 public key is ${ED25519_PUBLIC_KEY_LENGTH} bytes, got ${publicKey.length}`);
  }
  return crypto
    .createHash('sha256')
    .update(publicKey)
    .digest()
    .subarray(0, VALIDATOR_ADDRESS_LENGTH)
    .toString('hex')
    .toUpperCase();
}

/**
 * Whether `signature` is a valid Ed25519 signature of `message` by `publicKey`. Malformed input
 * (wrong lengths, a public key that is not a curve point) is simply not a valid signature: false.
 */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_LENGTH || signature.length !== ED25519_SIGNATURE_LENGTH) return false;
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
  } catch {
    // OpenSSL refuses some 32-byte strings as Ed25519 points; no signature verifies under them.
    return false;
  }
  try {
    return crypto.verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * Parses priv_validator_key.json, checking every field: the types are Ed25519, the lengths are
 * right, the public key is the seed's, the address is the public key's. `source` names the file in
 * errors.
 */
export function parsePrivValidatorKeyJson(text: string, source: string): ValidatorKey {
  const fail = (what: string): never => {
    throw new ValidatorKeyError(source, `key file ${source}: ${what}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // The parser's message may quote part of the file, which holds the secret: do not repeat it.
    return fail('is not valid JSON: expected a CometBFT priv_validator_key.json');
  }
  if (!isPlainObject(doc)) return fail('is not a JSON object: expected a CometBFT priv_validator_key.json');
  for (const field of Object.keys(doc)) {
    if (!['address', 'pub_key', 'priv_key'].includes(field)) {
      fail(`unknown field "${field}": a priv_validator_key.json has only address, pub_key and priv_key`);
    }
  }
  const privKey = typedValue(doc, 'priv_key', PRIV_KEY_TYPE_ED25519, fail);
  const pubKey = typedValue(doc, 'pub_key', PUB_KEY_TYPE_ED25519, fail);
  if (typeof doc.address !== 'string') return fail('field "address" is missing or not a string');

  const seedAndPub = decodeBase64(privKey, 'priv_key.value', fail);
  let key: ValidatorKey;
  try {
    if (seedAndPub.length !== ED25519_SEED_LENGTH + ED25519_PUBLIC_KEY_LENGTH) {
      return fail(
        `priv_key.value is ${seedAndPub.length} bytes; an Ed25519 private key is 64 bytes (32-byte seed || 32-byte public key)`,
      );
    }
    key = ValidatorKey.fromSeed(seedAndPub.subarray(0, ED25519_SEED_LENGTH));
    const embeddedPub = seedAndPub.subarray(ED25519_SEED_LENGTH);
    if (!embeddedPub.equals(Buffer.from(key.publicKey))) {
      return fail(
        'priv_key.value holds a public key (its last 32 bytes) that is not the one derived from its seed: the file is corrupt or was assembled by hand',
      );
    }
  } finally {
    seedAndPub.fill(0);
  }
  const pub = decodeBase64(pubKey, 'pub_key.value', fail);
  if (pub.length !== ED25519_PUBLIC_KEY_LENGTH) {
    return fail(`pub_key.value is ${pub.length} bytes; an Ed25519 public key is 32 bytes`);
  }
  if (!pub.equals(Buffer.from(key.publicKey))) {
    return fail(
      `pub_key.value ${pubKey} is not the public key of priv_key (which is ${key.publicKeyBase64}): the file is corrupt or was assembled by hand`,
    );
  }
  if (!/^[0-9A-Fa-f]{40}$/.test(doc.address)) {
    // Not echoed: a wrong value here may be anything pasted from the file, the secret included.
    return fail(`address is not 40 hex digits (20 bytes): it must be ${key.address}, the address of the key's public key`);
  }
  if (doc.address.toUpperCase() !== key.address) {
    return fail(`address ${doc.address} is not the address of the key's public key (which is ${key.address})`);
  }
  return key;
}

/**
 * Loads a plain (unencrypted) priv_validator_key.json, refusing it unless only its owner can
 * read it. For a file that may be encrypted, use loadValidatorKeyFile in encrypted_key_file.ts.
 */
export function loadPlainValidatorKeyFile(filePath: string): ValidatorKey {
  const content = readSecretFile(filePath);
  try {
    return parsePrivValidatorKeyJson(content.toString('utf8'), filePath);
  } finally {
    content.fill(0);
  }
}

/** Writes priv_validator_key.json (mode 0600, atomically; refuses to overwrite unless asked). */
export function writePlainValidatorKeyFile(
  filePath: string,
  key: ValidatorKey,
  options: Pick<WriteSecretFileOptions, 'overwrite'> = {},
): void {
  const content = Buffer.from(key.exportPrivValidatorKeyJson(), 'utf8');
  try {
    writeSecretFile(filePath, content, { overwrite: options.overwrite, what: 'key file' });
  } finally {
    content.fill(0);
  }
}

/** Strict base64 as Go's encoding/json writes []byte (standard alphabet, padded). */
export function decodeBase64(value: string, field: string, fail: (what: string) => never): Buffer {
  if (value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    return fail(`${field} is not valid base64`);
  }
  return Buffer.from(value, 'base64');
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads {"type": expectedType, "value": string} at doc[field]. */
function typedValue(
  doc: Record<string, unknown>,
  field: string,
  expectedType: string,
  fail: (what: string) => never,
): string {
  const obj = doc[field];
  if (!isPlainObject(obj)) return fail(`field "${field}" is missing or not an object with type and value`);
  for (const inner of Object.keys(obj)) {
    if (inner !== 'type' && inner !== 'value') fail(`unknown field "${field}.${inner}"`);
  }
  if (obj.type !== expectedType) {
    // Echo the type only when it looks like one, so a misplaced secret is never repeated.
    const got =
      typeof obj.type !== 'string' ? 'missing' : /^[A-Za-z0-9/_.-]{1,64}$/.test(obj.type) ? `"${obj.type}"` : 'not a key type';
    return fail(
      `${field}.type is ${got}, expected "${expectedType}": raft-signer signs with Ed25519 validator keys only`,
    );
  }
  if (typeof obj.value !== 'string') return fail(`${field}.value is missing or not a string`);
  return obj.value;
}
